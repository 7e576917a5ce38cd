"""`structconv search MODEL [--max-cycles-ratio R] [--trials N] [--out DIR] ...`: the per-layer search.

The flags (``search_flags``) become one ``search.SearchSettings``, checked by the rules the Python
API uses; ``search.search_with`` runs it (resuming the study in DIR/study.journal or --storage) and
writes DIR/front.yaml, DIR/best.yaml and DIR/plans/; ``search_render`` prints it (--in-loop's
flags and table: ``search_in_loop``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import search_in_loop as in_loop
from . import search_render as render
from ._common import CLIError, add_model_args, check_out_dir, is_zoo_name, resolve_model
from .search_flags import FLAGS, SETTINGS


def register(sub) -> None:
    p = sub.add_parser("search", help="search per-layer structures under a cycles/energy budget (Optuna)")
    add_model_args(p)
    for flag, options in FLAGS:
        p.add_argument(flag, **options)
    in_loop.add_args(p)
    p.set_defaults(func=run)


def _split(text: str | None) -> tuple | None:
    return None if text is None else tuple(t.strip() for t in text.split(",") if t.strip())


def _settings(args, out: str):
    from structconv.search import SearchSettings, SettingError

    proxies = _split(args.proxies)
    progress = not args.no_progress and not args.json and sys.stderr.isatty()
    try:
        return SearchSettings.of(
            args.model, **{k: getattr(args, k) for k in SETTINGS}, objectives=_split(args.objectives),
            proxies=list(proxies) if proxies else None, out=out, warm_start=not args.no_warm_start,
            progress=progress, in_loop=in_loop.settings(args))
    except SettingError as e:                              # the same rule as the API's, named by its flag
        raise CLIError(e.line(in_loop.flag)) from None


def run(args) -> int:
    from structconv.search import search_with
    from structconv.search.study import check_place

    out = args.out or os.path.join("out", f"search-{Path(args.model).stem or 'model'}")   # a file's stem
    settings = _settings(args, out)
    check_out_dir("--out", out)                            # a full disk, before the model is traced
    if settings.run.mode != "exact":
        check_place(*settings.run.place)                   # the study file, before the model is traced
    network = None if is_zoo_name(args.model) and args.input_shape is None else \
        resolve_model(args.model, args.input_shape)       # a file or Python reference: importer warnings said
    job = search_with(settings, network, log=None if args.json else (lambda m: print(m, flush=True)))
    render.show(args, job, out)
    return 0
