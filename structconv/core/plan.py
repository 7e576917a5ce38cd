"""A Plan: layer name -> Choice, loaded and saved as YAML or JSON."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import yaml

from .choice import Choice, Dense, choice_from_dict
from .files import atomic_write_text, load_data_file
from .layer import Network


@dataclass(frozen=True)
class Plan:
    """Per-layer choices; layers not named stay dense."""

    choices: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    name: str = "custom"
    model: str | None = None

    def __post_init__(self):
        parsed = {}
        for k, v in dict(self.choices).items():
            if not isinstance(k, str):
                raise ValueError(f"plan layer names must be strings, got {k!r}")
            parsed[k] = choice_from_dict(v, where=f"plan layer {k!r}")
        object.__setattr__(self, "choices", MappingProxyType(parsed))

    @classmethod
    def coerce(cls, plan) -> "Plan":
        if plan is None:
            return cls(name="dense")
        if isinstance(plan, Plan):
            return plan
        if isinstance(plan, dict):
            return cls(plan)
        raise ValueError(f"plan must be a Plan or a mapping of layer name -> choice, got {type(plan).__name__}")

    def choice_for(self, layer_name: str) -> Choice:
        return self.choices.get(layer_name, Dense())

    def __len__(self):
        return len(self.choices)

    def validate(self, network: Network) -> None:
        """Every named layer exists and every choice fits its layer."""
        names = set(network.layer_names)
        for k, choice in self.choices.items():
            if k not in names:
                raise ValueError(
                    f"plan {self.name!r} names layer {k!r}, which network {network.name!r} does not have")
            choice.validate(network[k])

    # -- serialization ------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"name": self.name}
        if self.model:
            d["model"] = self.model
        d["layers"] = {k: v.to_dict() for k, v in self.choices.items() if not isinstance(v, Dense)}
        return d

    @classmethod
    def from_dict(cls, d, source: str = "plan") -> "Plan":
        if not isinstance(d, dict) or "layers" not in d:
            raise ValueError(f"{source}: a plan is a mapping with a 'layers' mapping (layer name -> choice)")
        layers = d["layers"] or {}
        if not isinstance(layers, dict):
            raise ValueError(f"{source}: field 'layers' must be a mapping, got {type(layers).__name__}")
        return cls(layers, name=str(d.get("name", Path(source).stem)), model=d.get("model"))

    def save(self, path) -> Path:
        """Write YAML (or JSON for *.json) atomically: a crash never leaves half a file."""
        path = Path(path)
        text = (json.dumps(self.to_dict(), indent=2) if path.suffix == ".json"
                else yaml.safe_dump(self.to_dict(), sort_keys=False))
        atomic_write_text(path, text)
        return path

    @classmethod
    def load(cls, path) -> "Plan":
        data = load_data_file(path, "plan file")
        return cls.from_dict(data, source=str(path))
