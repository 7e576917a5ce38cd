"""Score plans a user already has: every registered proxy for each plan, the default proxy first.

    rows = score_plans("resnet20", ["a.yaml", "b.yaml"], weights="ck.pt", data="fashion-mnist")

The plans' choices make the search space (dense plus every choice some plan makes, per layer), so
each plan is one index into the proxy tables. Without weights only the weight-free proxies run;
without a torch model of the network (an ONNX file) only the cost proxies. Data is read from a
validation split carved from its training split (``nn.split_validation``), never its test split.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..core import Dense, Plan, is_module_ref, resolve_plan
from .api import network_for, selection_data
from .proxies import ProxySettings, compute_proxies, list_proxies
from .space import LayerSpace, SearchSpace

DENSE = Dense()


@dataclass(frozen=True)
class ScoreSettings:
    """What ``score_plans`` reads besides the model and the plans."""

    weights: str | None = None
    data: str | None = None
    data_dir: str | None = None
    input_shape: tuple | None = None     # a Python reference's or an ONNX file's input shape
    calib_size: int = 128
    quiet: bool = True


@dataclass
class Scores:
    """One row per plan: {proxy: value}, the default proxy first; the proxies' notes."""

    rows: list = field(default_factory=list)
    default: str = ""
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"default_proxy": self.default, "plans": self.rows, "notes": self.notes}


def plans_space(network, plans) -> SearchSpace:
    """Every layer's choices: dense, then each choice some plan makes, in order of appearance."""
    layers = []
    for layer in network.layers:
        choices = [DENSE]
        for p in plans:
            c = p.choice_for(layer.name)
            if c not in choices:
                choices.append(c)
        layers.append(LayerSpace(layer, tuple(choices)))
    if all(len(ls) == 1 for ls in layers):
        raise ValueError("plans: every plan leaves every layer dense; nothing to score")
    return SearchSpace(network, tuple(layers))


def _torch_model(model, network):
    """The user's module for a Python reference (its layer names are the network's); None: the zoo's."""
    if isinstance(model, str) and is_module_ref(model):
        from ..nn import load_module_ref

        return load_module_ref(model)
    return None


def score_plans(model, plans, settings: ScoreSettings | None = None, network=None, **options) -> Scores:
    """Every registered proxy of each plan (``options``: the fields of ``ScoreSettings``);
    ``network``: the model already resolved (else resolved here)."""
    s = settings if settings is not None else ScoreSettings(**options)
    network = network if network is not None else _network(model, s)
    resolved = [p if isinstance(p, Plan) else resolve_plan(p, network) for p in plans]
    space = plans_space(network, resolved)
    calib = _data(s, network)
    names = [n for n, p in list_proxies().items() if not p.per_trial]
    suite = compute_proxies(space, model=_torch_model(model, network), weights=s.weights, data=calib,
                            settings=ProxySettings(proxies=names, calib_size=s.calib_size, quiet=s.quiet))
    order = [suite.default_objective] + [n for n in suite.available if n != suite.default_objective]
    out = Scores(default=suite.default_objective, notes=list(suite.notes))
    for p in resolved:
        idx = [space.params_of(p)[n] for n in space.param_names]
        vals = {n: suite.projected_loss(idx) if n == "projected_loss" else suite.tables[n].score(idx)
                for n in order}
        out.rows.append({"plan": p.name, "proxies": vals})
    return out


def _network(model, s: ScoreSettings):
    if s.input_shape is not None and isinstance(model, str) and not model.endswith(".onnx") \
            and not is_module_ref(model):
        raise ValueError(f"input_shape applies to ONNX files and Python references, not to {model!r}")
    if s.input_shape is not None:
        from ..core import resolve_network

        return resolve_network(model, input_shape=tuple(s.input_shape))
    return network_for(model, s.weights)[0]


def _data(s: ScoreSettings, network):
    return selection_data(s.data, network, s.data_dir)
