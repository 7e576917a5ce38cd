"""Search studies as DataFrames: every trial, and the feasible Pareto front.

A study is named by a storage and a study name:

* ``sqlite:///path/study.db`` or any SQLAlchemy URL (``postgresql://...``): Optuna's RDB storage;
* a path to a ``.db``/``.sqlite``/``.sqlite3`` file: SQLite;
* any other existing file: an Optuna journal file (JournalFileBackend).

``parse_study_spec("STORAGE/NAME")`` splits the one-string form the CLI takes; a
storage with a single study needs no name. ``STORAGE#NAME`` is accepted too.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from structconv.core import load_data_file, pareto_mask, shown

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
# user attributes that say where a trial came from (baseline, preset, ...)
SOURCE_ATTRS = ("seed", "source", "origin", "kind", "baseline", "preset", "label")
# the totals of a baseline's evaluation shown beside its objective values
BASELINE_TOTALS = ("cycles_total", "energy_pj", "params")


def parse_study_spec(spec: str) -> tuple[str, str | None]:
    """(storage, study name or None) from 'STORAGE', 'STORAGE/NAME' or 'STORAGE#NAME'."""
    spec = str(spec).strip()
    if not spec:
        raise ValueError("study = '' is empty: give STORAGE/NAME (a journal/SQLite file or a URL)")
    if "#" in spec:
        storage, name = spec.rsplit("#", 1)
        return storage, (name or None)
    if "://" in spec:
        scheme, rest = spec.split("://", 1)
        if scheme.startswith("sqlite"):
            path = rest[1:] if rest.startswith("/") else rest      # sqlite:///rel or sqlite:////abs
            if os.path.isfile(path):
                return spec, None
            head, _, name = spec.rpartition("/")
            if os.path.isfile(head.split("://", 1)[1][1:]):
                return head, name or None
            return spec, None
        # server URL: scheme://[user@]host[:port]/database[/name]
        parts = rest.split("/")
        if len(parts) >= 3:
            return f"{scheme}://{'/'.join(parts[:-1])}", parts[-1] or None
        return spec, None
    if os.path.exists(spec):
        return spec, None
    head, _, name = spec.rpartition("/")
    if head and os.path.isfile(head):
        return head, name or None
    raise ValueError(f"study = {shown(spec)}: no storage file {shown(spec)} (nor {shown(head)}) exists; "
                     "give STORAGE/NAME with an existing journal/SQLite file or a database URL")


def open_storage(storage):
    """An Optuna storage object (or URL string) for a URL or a file path."""
    if not isinstance(storage, (str, os.PathLike)):
        return storage
    s = str(storage)
    if "://" in s:
        return s
    p = Path(s)
    if p.is_dir():
        raise ValueError(f"study storage {shown(s)} is a directory; pass the study file inside it "
                         "(or use --search-dir)")
    if not p.is_file():
        raise ValueError(f"study storage {shown(s)} does not exist")
    if p.suffix in SQLITE_SUFFIXES:
        return f"sqlite:///{p.resolve()}"
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    try:
        return JournalStorage(JournalFileBackend(str(p)))
    except Exception as e:  # a corrupt journal
        raise ValueError(f"study storage {shown(s)} is not a readable Optuna journal: {_first(e)}") from None


def _first(e: BaseException) -> str:
    msg = str(e).strip()
    return msg.splitlines()[0] if msg else type(e).__name__


def load_study(storage, name: str | None = None):
    """Load an Optuna study read-only; with no name the storage must hold exactly one study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = open_storage(storage)
    try:
        summaries = optuna.get_all_study_summaries(st, include_best_trial=False)
    except Exception as e:  # bad URL, corrupt file, unreachable server
        raise ValueError(f"study storage {shown(str(storage))} cannot be read: {_first(e)}") from None
    names = [s.study_name for s in summaries]
    if name is None:
        if len(names) != 1:
            raise ValueError(f"study storage {shown(str(storage))} holds {len(names)} studies {names}; "
                             "name one as STORAGE/NAME")
        name = names[0]
    elif name not in names:
        raise ValueError(f"study {shown(name)} is not in storage {shown(str(storage))} (it has {names})")
    return optuna.load_study(study_name=name, storage=st)


def study_info(study) -> dict:
    """Name, directions, metric names and user attributes of a study."""
    dirs = [d.name.lower() for d in study.directions]
    cfg = study.user_attrs.get("structconv_config")
    names = getattr(study, "metric_names", None)
    if not names and isinstance(cfg, dict) and len(cfg.get("objectives") or ()) == len(dirs):
        names = [str(o) for o in cfg["objectives"]]
    names = names or [f"value_{i}" for i in range(len(dirs))]
    return {"study": study.study_name, "directions": dirs, "metrics": list(names),
            "user_attrs": dict(study.user_attrs)}


def trials_frame(study, params: bool = False) -> pd.DataFrame:
    """One row per trial: number, state, objective values (named by the study's metric
    names), duration, constraints and ``feasible``, a ``source`` label, the scalar user
    attributes (``attr_<key>``), and with ``params`` the per-layer parameters."""
    info = study_info(study)
    rows = [_trial_row(t, info["metrics"], params) for t in study.get_trials(deepcopy=False)]
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=["number", "state", *info["metrics"], "duration_s", "constraints",
                                   "feasible", "source", "n_params"])
    df.attrs.update(info)
    return df


def _trial_row(t, metrics, params: bool) -> dict:
    row = {"number": t.number, "state": t.state.name}
    row.update(zip(metrics, t.values if t.values is not None else [None] * len(metrics)))
    row["duration_s"] = t.duration.total_seconds() if t.duration is not None else None
    cons = trial_constraints(t)
    row["constraints"] = None if cons is None else tuple(cons)
    row["feasible"] = (t.state.name == "COMPLETE") and (cons is None or all(c <= 0 for c in cons))
    row["origin"] = trial_origin(t)
    row["source"] = source_group(row["origin"])
    row.update(_flat_attrs(t.user_attrs))
    row["n_params"] = len(t.params)
    if params:
        row.update({f"param_{k}": v for k, v in t.params.items()})
    return row


def trial_origin(t) -> str:
    """Where a trial came from: its first string SOURCE_ATTRS attribute, 'enqueued' or 'search'."""
    for k in SOURCE_ATTRS:
        if isinstance(t.user_attrs.get(k), str):
            return t.user_attrs[k]
    return "enqueued" if t.system_attrs.get("fixed_params") else "search"


def _flat_attrs(attrs: dict) -> dict:
    """Scalar user attributes as attr_<key>; dicts (the search's "breakdown") two levels deep."""
    out = {}
    for k, v in attrs.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                if isinstance(v2, dict):
                    out.update({f"attr_{k}.{k2}.{k3}": v3 for k3, v3 in v2.items()
                                if isinstance(v3, (bool, int, float, str))})
                elif _is_scalar(v2):
                    out[f"attr_{k}.{k2}"] = v2
        elif _is_scalar(v):
            out[f"attr_{k}"] = v
    return out


def _is_scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def trial_constraints(t) -> list | None:
    """A trial's constraint values (<= 0 is satisfied), or None when it has none.

    Optuna 5 keeps them as a dict (``trial.constraints``, system attrs ``constraints:<name>``);
    older versions as a list in ``system_attrs['constraints']``."""
    c = getattr(t, "constraints", None)
    if isinstance(c, dict):
        return list(c.values()) if c else None
    if isinstance(c, (list, tuple)):
        return list(c)
    c = t.system_attrs.get("constraints")
    if c is not None:
        return list(c)
    named = [v for k, v in t.system_attrs.items() if k.startswith("constraints:")]
    return named or None


def source_group(tag: str) -> str:
    """A legend label for a trial's origin: 'preset:X' and 'uniform:X' stay, numbered
    warm starts ('lagrangian:3') collapse to their kind."""
    kind, _, rest = str(tag).partition(":")
    if rest.isdigit():
        return kind
    if kind == "uniform":
        return "uniform"
    return str(tag)


def front_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """The feasible, completed, non-dominated trials of ``trials_frame(study)`` (same columns)."""
    metrics, dirs = trials.attrs.get("metrics", []), trials.attrs.get("directions", [])
    ok = trials[(trials["state"] == "COMPLETE") & trials["feasible"].astype(bool)]
    ok = ok.dropna(subset=metrics) if metrics else ok
    if ok.empty or not metrics:
        out = ok.iloc[0:0].copy()
    else:
        out = ok[pareto_mask(ok[metrics].to_numpy(dtype=float), dirs)].copy()
    out.attrs.update(trials.attrs)
    return out.sort_values(metrics[0]) if metrics and not out.empty else out


def history_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """Per completed trial: each objective and its best-so-far among feasible trials."""
    metrics, dirs = trials.attrs.get("metrics", []), trials.attrs.get("directions", [])
    done = trials[trials["state"] == "COMPLETE"].sort_values("number").copy()
    for m, d in zip(metrics, dirs):
        feas = done[m].where(done["feasible"].astype(bool))
        done[f"best_{m}"] = feas.cummin() if d.startswith("min") else feas.cummax()
    done.attrs.update(trials.attrs)
    return done


def baselines_frame(baselines, metrics=("proxy", "cycles_total", "energy_pj")) -> pd.DataFrame:
    """Baseline plans (``search.greedy``/``uniform``/``best_random`` results, or dicts with
    'name' and 'evaluation') as rows: plan, feasible, one column per objective (from the
    evaluation's 'values', in the study's objective order), cycles_total, energy_pj, params."""
    rows = [_baseline_row(b, metrics) for b in baselines if b is not None]
    return pd.DataFrame(rows, columns=list(dict.fromkeys(["plan", "feasible", *metrics, *BASELINE_TOTALS])))


def _baseline_row(b, metrics) -> dict:
    name = b["name"] if isinstance(b, dict) else b.name
    ev = b["evaluation"] if isinstance(b, dict) else b.evaluation.to_dict(values=True)
    row = {"plan": name, "feasible": bool(ev.get("feasible", True)),
           **{k: ev.get(k) for k in BASELINE_TOTALS}}
    row.update((m, float(v)) for m, v in zip(metrics, ev.get("values", ())))
    return row


def study_model(study) -> str | None:
    """The network a study searched, from its user attributes (None when not recorded)."""
    ua = study.user_attrs
    cfg = ua.get("structconv_config")
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), str):
        return cfg["model"]
    for k in ("model", "network", "model_name"):
        if isinstance(ua.get(k), str):
            return ua[k]
    return None


def load_front_yaml(path) -> pd.DataFrame:
    """A search's ``front.yaml`` as a DataFrame (one row per front member, scalar fields flat)."""
    path = Path(path)
    data = load_data_file(path, "front file")
    members = data.get("front", data.get("members")) if isinstance(data, dict) else data
    if not isinstance(members, list):
        raise ValueError(f"front file {shown(str(path))} has no list of front members")
    rows = []
    for i, m in enumerate(members):
        if not isinstance(m, dict):
            continue
        row = {"rank": i}
        _flatten(m, row, "")
        rows.append(row)
    df = pd.DataFrame(rows)
    if isinstance(data, dict):
        df.attrs.update({k: v for k, v in data.items() if k not in ("front", "members") and _is_plain(v)})
        best = data.get("best")
        if isinstance(best, dict):
            if "trial" in best:
                df.attrs["best_trial"] = best["trial"]
            if isinstance(best.get("plan_file"), str):
                df.attrs["best_plan_file"] = best["plan_file"]
    return df


def _is_plain(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str, list, dict))


def _flatten(d: dict, out: dict, prefix: str) -> None:
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k not in ("layers", "plan"):
            _flatten(v, out, f"{key}.")
        elif isinstance(v, (bool, int, float, str)) or v is None:
            out[key] = v
