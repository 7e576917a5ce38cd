"""Each SRAM of an accelerator as simulated, beside what every ``sram_model`` gives at its size."""
from __future__ import annotations

from .memory_cost import SRAM_MODELS


def compare_sram_models(hw) -> dict:
    """{sram_model, area_mm2, srams}: each SRAM's ``SramCost.to_dict()`` plus, under every model's
    name, that model's {pj_per_byte, area_um2} for an SRAM of that size."""
    by_model = {m: hw.with_(sram_model=m).srams() for m in SRAM_MODELS}
    srams = []
    for i, s in enumerate(hw.srams()):
        d = s.to_dict()
        for m in SRAM_MODELS:
            d[m] = {"pj_per_byte": by_model[m][i].pj_per_byte, "area_um2": by_model[m][i].area_um2}
        srams.append(d)
    return {"sram_model": hw.sram_model, "area_mm2": hw.area_mm2(), "srams": srams}
