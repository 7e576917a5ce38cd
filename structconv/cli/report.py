"""`structconv report MODEL`: one self-contained HTML (or Markdown) report.

    structconv report MODEL [--hw PRESET|FILE] [--preset P | --plan FILE]
                      [--study STORAGE[/NAME] | --search-dir DIR] [--run DIR ...]
                      [-o report.html] [--format html|md] [--export-dir DIR [--export-format csv|parquet]]

Inputs that are missing or do not fit the model are reported as "not available: ..."
in the report and on stderr; the rest of the report is still written.
"""
from __future__ import annotations

import sys

from structconv.core import printable

from ._args import add_hw_arg, add_model_args, add_plan_args, plan_ref
from ._inputs import resolve_model
from ._output import print_json
from ._paths import check_out_dir, check_out_file


def register(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML/Markdown report: costs, sim, search, training")
    add_model_args(p)
    add_hw_arg(p)
    add_plan_args(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--study", metavar="STORAGE/NAME",
                   help="an Optuna study: journal/SQLite file or URL, then /NAME (NAME optional when the "
                        "storage holds one study); STORAGE#NAME also works")
    g.add_argument("--search-dir", metavar="DIR", help="a `structconv search --out` directory")
    p.add_argument("--run", action="append", metavar="DIR", default=None,
                   help="a training run directory or a directory of runs (repeatable)")
    p.add_argument("--ground-truth", metavar="FILE",
                   help="the accuracy benchmark's results (benchmarks/results/accuracy_cpu.json): a section "
                        "with each proxy on held-out plans and accuracy against cycles")
    p.add_argument("--mode", default="analytical", choices=("analytical", "cycle"), help="simulation mode")
    p.add_argument("-o", "--output", default="report.html", help="output file (default report.html)")
    p.add_argument("--format", choices=("html", "md"), default=None,
                   help="html (default) or md: Markdown with PNG figures when a static exporter works")
    p.add_argument("--no-paper", action="store_true", help="skip the seed paper tables section")
    p.add_argument("--export-dir", metavar="DIR", help="also write the report's tables there")
    p.add_argument("--export-format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--title", default=None)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args) -> int:
    from structconv.analysis import ReportSettings, build_report, export_tables, write_report  # plotly

    log = None if args.quiet else (lambda m: print(f"structconv report: {m}", file=sys.stderr))
    check_out_file("-o/--output", args.output)             # before the minutes of building the report
    if args.export_dir:
        check_out_dir("--export-dir", args.export_dir)
    net = resolve_model(args.model, args.input_shape)
    settings = ReportSettings(hw=args.hw, plan=plan_ref(args), study=args.study, search_dir=args.search_dir,
                              runs=args.run, ground_truth=args.ground_truth, mode=args.mode,
                              paper=not args.no_paper, title=args.title)
    rep = build_report(net, settings=settings, log=log)
    path = write_report(rep, args.output, args.format)     # no --format: from the file name
    for n in rep.notices:                                  # they quote names from the inputs' files
        print(f"structconv report: {printable(n)}", file=sys.stderr)
    if args.export_dir:
        for p in export_tables(rep, args.export_dir, args.export_format):
            if log:
                log(f"wrote {p}")
    if args.json:
        print_json({"output": str(path), **rep.to_dict()})
    else:
        print(_done_line(path, rep.summary))
    return 0


def _done_line(path, s: dict) -> str:
    line = f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)"
    if s.get("speedup") is not None:
        line += f": speedup {s['speedup']:.3f}x, energy saving {100 * s['energy_saving']:+.1f} %, "
        line += f"params saving {100 * s['params_saving']:+.1f} %"
    if s.get("accuracy_change") is not None:
        line += f", accuracy change {s['accuracy_change']:+.2f} pp"
    return line
