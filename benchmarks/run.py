"""The benchmark suite: every benchmark with its baseline measured in the same run, figures
printed and written under docs/bench/ (JSON, and PNG plots made with matplotlib).

    ./scripts/bench            # the full figures (several minutes)
    ./scripts/bench --quick    # a few seconds each: what CI runs after the tests

Nothing here asserts a speed: these machines are shared and noisy, so the ratios to the
baseline of the same run are the figures to read (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import engine, ingest
from benchmarks.common import ROOT

OUT = ROOT / "docs" / "bench"


def machine() -> dict[str, Any]:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": len(Path("/proc/cpuinfo").read_text().split("processor\t")) - 1,
        "platform": platform.platform(),
    }


def plot_ingest(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["baseline"] + [db for db in ("sqlite", "postgresql") if db in results]
    labels = {
        "baseline": "bare endpoint",
        "sqlite": "Frontdesk\nSQLite",
        "postgresql": "Frontdesk\nPostgreSQL",
    }
    rates = [results[n]["per_second"] for n in names]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    bars = left.bar(
        [labels[n] for n in names], rates, color=["#999999", "#2a7ab9", "#36a15a"][: len(names)]
    )
    left.set_yscale("log")
    left.set_ylabel("messages per second (log)")
    left.set_title(f"POST /widget/{{key}}/messages, {results['connections']} connections")
    for bar, name in zip(bars, names, strict=True):
        ratio = "" if name == "baseline" else f"\n{results[name]['ratio']:.3f} of baseline"
        left.annotate(
            f"{results[name]['per_second']:.0f}/s{ratio}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    width = 0.35
    positions = range(len(names))
    right.bar(
        [p - width / 2 for p in positions],
        [results[n]["p50_ms"] for n in names],
        width,
        label="p50",
    )
    right.bar(
        [p + width / 2 for p in positions],
        [results[n]["p99_ms"] for n in names],
        width,
        label="p99",
    )
    right.axhline(50, color="#c0392b", linestyle="--", linewidth=1, label="goal p99 50 ms")
    right.set_xticks(list(positions), [labels[n] for n in names])
    right.set_ylabel("latency (ms)")
    right.set_title("latency at that load")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_engine(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    databases = [db for db in ("sqlite", "postgresql") if db in results]
    celery = results["celery"]
    labels = ["Celery\napply_async"]
    rates = [celery["schedule_per_second"]]
    for db in databases:
        name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[db]
        labels += [f"{name}\nin-process", f"{name}\nover HTTP"]
        rates += [
            results[db]["in_process"]["open_per_second"],
            results[db]["http"]["open_per_second"],
        ]
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.5))
    left.bar(
        labels,
        rates,
        color=["#999999", *["#2a7ab9", "#7fb3dc", "#36a15a", "#8fd19e"][: len(labels) - 1]],
    )
    left.set_ylabel("notifications opened per second")
    left.set_title(
        f"opening {results['notifications']:,} offline notifications (Frontdesk in colour)"
    )
    left.tick_params(axis="x", labelsize=7)
    middle.plot(
        [pending for pending, _ in celery["rss_by_pending"]],
        [rss for _, rss in celery["rss_by_pending"]],
        color="#999999",
        label="Celery worker",
    )
    for db, colour in zip(databases, ["#2a7ab9", "#36a15a"], strict=False):
        samples = results[db]["http"]["rss_by_pending"]
        middle.plot(
            [pending for pending, _ in samples],
            [rss for _, rss in samples],
            color=colour,
            label=f"frontdesk serve, {db}",
        )
        samples = results[db]["worker"]["rss_by_pending"]
        middle.plot(
            [pending for pending, _ in samples],
            [rss for _, rss in samples],
            color=colour,
            linestyle="--",
            label=f"frontdesk worker, {db}",
        )
    middle.set_xlabel("notifications pending")
    middle.set_ylabel("RSS (MB)")
    middle.set_title("memory as they pile up")
    middle.legend(fontsize=7)
    names = ["Celery"] + [{"sqlite": "SQLite", "postgresql": "PostgreSQL"}[db] for db in databases]
    sources = [celery] + [results[db]["http"] for db in databases]
    width = 0.35
    positions = range(len(names))
    right.bar(
        [p - width / 2 for p in positions],
        [s["lateness_p50_s"] for s in sources],
        width,
        label="p50",
    )
    right.bar(
        [p + width / 2 for p in positions],
        [s["lateness_p99_s"] for s in sources],
        width,
        label="p99",
    )
    right.axhline(0.5, color="#c0392b", linestyle="--", linewidth=1, label="goal p99 0.5 s")
    right.set_xticks(list(positions), names)
    right.set_ylabel("seconds after the due time")
    right.set_title("decided how late (from the due event)")
    right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# The benchmarks run as scripts that ended with an error: the suite goes on with the others
# and then fails, so that CI's quick mode catches a benchmark that broke.
FAILED: list[str] = []


def run_script(name: str, arguments: list[str]) -> str:
    """A benchmark that prints its figures; its output is kept beside the JSON."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    output = done.stdout + (
        f"\n(exit {done.returncode})\n{done.stderr[-4000:]}" if done.returncode else ""
    )
    print(output)
    if done.returncode:
        FAILED.append(name)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds per benchmark (CI)")
    parser.add_argument("--only", help="comma-separated: ingest,engine,sockets,email,chaos,soak")
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON and PNG go")
    args = parser.parse_args()
    # The SIGKILL loop and the soak take minutes whatever their size; CI runs the loop small
    # as a test (tests/integration/test_chaos.py), so the quick mode leaves both out.
    everything = {"ingest", "engine", "sockets", "email"} | (
        set() if args.quick else {"chaos", "soak"}
    )
    wanted = set(args.only.split(",")) if args.only else everything
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    if "ingest" in wanted:
        results = ingest.run(
            duration=3 if args.quick else 15,
            connections=64,
            visitors=200 if args.quick else 1000,
            databases=["sqlite", "postgresql"],
            rounds=1 if args.quick else 3,
        )
        results["machine"] = machine()
        ingest.report(results)
        (args.out / f"ingest{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
        plot_ingest(results, args.out / f"ingest{suffix}.png")
    if "engine" in wanted:
        figures = engine.run(n=2_000 if args.quick else 100_000, databases=["sqlite", "postgresql"])
        figures["machine"] = machine()
        engine.report(figures)
        (args.out / f"engine{suffix}.json").write_text(json.dumps(figures, indent=2) + "\n")
        plot_engine(figures, args.out / f"engine{suffix}.png")
    if "sockets" in wanted:
        output = run_script("sockets", ["--sockets", "1000", "--rounds", "5"] if args.quick else [])
        (args.out / f"sockets{suffix}.txt").write_text(output)
    if "email" in wanted:
        output = run_script(
            "email_throughput",
            ["--mails", "300", "--naive-mails", "100"] if args.quick else ["--dkim"],
        )
        (args.out / f"email{suffix}.txt").write_text(output)
    if "chaos" in wanted:
        output = run_script("chaos", ["--visitors", "40", "--kills", "4"] if args.quick else [])
        (args.out / f"chaos{suffix}.txt").write_text(output)
    if "soak" in wanted:
        soak = ["--visitors", "100", "--agents", "10", "--minutes", "0.5"] if args.quick else []
        (args.out / f"soak{suffix}.json").write_text(run_script("soak", soak))
    if FAILED:
        sys.exit(f"benchmarks that ended with an error: {', '.join(FAILED)}")


if __name__ == "__main__":
    main()
