"""`structconv simulate --scalesim-compat`: SCALE-Sim's USER-mode report from its own files, through the
CLI."""
import csv
import json
import re

import pytest

from structconv.cli import main
from tests.support import DATA
from tests.support.scalesim_inputs import TOPO_HEADER, USER_CFG

ROWS = {r["case_id"]: r for r in csv.DictReader((DATA / "scalesim_user_mode.csv").open())}


def _files(tmp_path, row):
    cfg = tmp_path / "user.cfg"
    kb, bw = int(row["sram_kb"]), int(row["bandwidth"])
    cfg.write_text(USER_CFG.format(rows=row["array_rows"], cols=row["array_cols"], kb_i=kb, kb_f=kb, kb_o=kb,
                                          bw_i=bw, bw_f=bw, bw_o=bw, df=row["dataflow"]))
    topo = tmp_path / "t.csv"
    topo.write_text(TOPO_HEADER + f"{row['layer']}, " + ", ".join(row[k] for k in (
                        "ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride"))
                    + ",\n")
    return ["simulate", "--scalesim-topology", str(topo), "--scalesim-config", str(cfg), "--scalesim-compat"]


@pytest.mark.parametrize("case",
                         ["conv3x3_10x10c8k16__os__bw4__sram2kB",
                          "conv3x3s2_hang_12x12c4k8__ws__bw1__sram8kB",
                                  "fc_1x1c256k48__is__bw10__sram2kB"])
def test_compat_cli_reports_what_scalesim_reported(capsys, tmp_path, case):
    row = ROWS[case]
    for extra, prefix in (([], ""), (["--no-double-count"], "fixed_")):
        assert main(_files(tmp_path, row) + extra + ["--json"]) == 0
        (got,) = json.loads(capsys.readouterr()[0])["layers"]
        assert got["cycles_total"] == int(row[prefix + "total_cycles"])
        assert got["cycles_stall"] == int(row[prefix + "stall_cycles"])
        for op in ("dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes"):
            assert got[op] == int(row[prefix + op]), op


def test_compat_cli_table_and_one_line_errors(capsys, tmp_path):
    argv = _files(tmp_path, ROWS["conv3x3_10x10c8k16__os__bw4__sram2kB"])
    assert main(argv) == 0
    out = capsys.readouterr()[0]
    assert "USER mode" in out and re.search(r"\b7,673\b", out)
    for bad, pattern in ((argv[:1] + ["resnet20", "--scalesim-compat"],
                          r"--scalesim-compat needs --scalesim-topology"),
                         (argv + ["--mode", "cycle"], r"no --plan/--preset/--mode"),
                         (argv[:-1] + ["--no-double-count"],
                          r"--no-double-count applies to --scalesim-compat only")):
        assert main(bad) == 2
        err = capsys.readouterr()[1].strip().splitlines()
        assert len(err) == 1 and re.search(pattern, err[0]), err
