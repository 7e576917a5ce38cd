"""A Plan: layer name -> Choice, loaded and saved as YAML or JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .checks import shown
from .choice import Choice, Dense, choice_from_dict
from .files import write_data_file
from .layer import Network
from .readers import load_data_file


@dataclass(frozen=True)
class Plan:
    """Per-layer choices; layers not named stay dense."""

    choices: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    name: str = "custom"
    model: str | None = None

    def __post_init__(self):
        if not hasattr(self.choices, "items"):
            raise TypeError("choices must be a mapping of layer name -> choice, "
                            f"got {type(self.choices).__name__}")
        parsed = {}
        for k, v in dict(self.choices).items():
            if not isinstance(k, str):
                raise ValueError(f"plan layer names must be strings, got {shown(k)}")
            parsed[k] = choice_from_dict(v, where=f"plan layer {shown(k)}")
        object.__setattr__(self, "choices", MappingProxyType(parsed))

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
                    f"plan {shown(self.name)} names layer {shown(k)}, "
                    f"which network {shown(network.name)} does not have")
            choice.validate(network[k])

    # -- serialization ------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"name": self.name}
        if self.model:
            d["model"] = self.model
        d["layers"] = {k: v.to_dict() for k, v in self.choices.items() if not isinstance(v, Dense)}
        return d

    @classmethod
    def from_dict(cls, d, source: str = "plan") -> Plan:
        if not isinstance(d, dict) or "layers" not in d:
            raise ValueError(f"{source}: a plan is a mapping with a 'layers' mapping (layer name -> choice)")
        layers = d["layers"] or {}
        if not isinstance(layers, dict):
            raise ValueError(f"{source}: field 'layers' must be a mapping, got {type(layers).__name__}")
        model = d.get("model")
        if model is not None and not isinstance(model, str):
            raise ValueError(f"{source}: field 'model' must be the name of the network the plan is for, "
                             f"got {shown(model)}")
        return cls(layers, name=str(d.get("name", Path(source).stem)), model=model)

    def save(self, path) -> Path:
        """Write YAML (or JSON for *.json) atomically: a crash never leaves half a file."""
        path = Path(path)
        write_data_file(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path) -> Plan:
        data = load_data_file(path, "plan file")
        return cls.from_dict(data, source=str(path))
