"""Where the API's event loop is busy for long: the stalls every waiting request sits out.

A CPU profile says where the time goes on average; a p99 is made by the moments the
loop does not come back to ``select`` for many milliseconds. py-spy records every
thread with ``--idle`` at 1 kHz in speedscope format, whose samples keep their order, so
runs of consecutive busy samples of the main thread are the stalls, and their stacks say
what ran.

    .venv/bin/python -m bench.loop_stalls PROFILE.json [--min-ms 5] [--top 12]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: py-spy's sampling rate when it records for this analysis (samples per second).
RATE_HZ = 1000

#: The main thread waiting for the next event (``--idle`` keeps those samples): the
#: event loop's selector at the top of the stack.
_IDLE_FILE = "selectors.py"

#: Frames worth naming: ours first, then the libraries a request passes through.
_OURS = ("rider_api/", "broker_config/")


@dataclass(frozen=True, slots=True)
class Stall:
    start_ms: float
    ms: float
    #: The deepest frame of ours on the stall's most frequent stack, and below it the
    #: library frame that ran.
    where: str


def py_spy_args(pid: int, out: Path) -> list[str]:
    """The py-spy arguments this analysis reads (speedscope, idle samples kept)."""
    return [
        "record",
        "--pid",
        str(pid),
        "--nonblocking",
        "--idle",
        "--rate",
        str(RATE_HZ),
        "--format",
        "speedscope",
        "-o",
        str(out),
    ]


def _label(frames: list[dict[str, object]], stack: Sequence[int]) -> str:
    named = [frames[i] for i in stack]
    ours = [f for f in named if any(o in str(f.get("file", "")) for o in _OURS)]
    top = named[-1] if named else {"name": "?", "file": ""}
    top_text = f"{top['name']} ({Path(str(top.get('file', ''))).name})"
    if not ours:
        return top_text
    mine = ours[-1]
    mine_text = f"{mine['name']} ({'/'.join(Path(str(mine.get('file', ''))).parts[-2:])})"
    return mine_text if mine is top else f"{mine_text} > {top_text}"


def stalls(profile: dict[str, object], *, min_ms: float) -> list[Stall]:
    """The main thread's runs of busy samples of at least ``min_ms``."""
    shared = profile["shared"]
    assert isinstance(shared, dict)
    frames: list[dict[str, object]] = shared["frames"]
    profiles = profile["profiles"]
    assert isinstance(profiles, list)
    main = next((p for p in profiles if "MainThread" in str(p.get("name", ""))), profiles[0])
    samples: list[list[int]] = main["samples"]
    weights: list[float] = main["weights"]
    found: list[Stall] = []
    t = 0.0
    run_start = 0.0
    run: list[Sequence[int]] = []

    def close() -> None:
        ms = sum(1 for _ in run) * 1000 / RATE_HZ
        if run and ms >= min_ms:
            common = Counter(tuple(s) for s in run).most_common(1)[0][0]
            found.append(Stall(run_start, ms, _label(frames, common)))

    for stack, weight in zip(samples, weights, strict=True):
        idle = not stack or str(frames[stack[-1]].get("file", "")).endswith(_IDLE_FILE)
        if idle:
            close()
            run = []
        else:
            if not run:
                run_start = t
            run.append(stack)
        t += weight * 1000
    close()
    return found


def report(path: Path, *, min_ms: float = 5.0, top: int = 12) -> str:
    """The stalls of a recording, longest first, and what they add up to by place."""
    profile = json.loads(path.read_text())
    found = stalls(profile, min_ms=min_ms)
    if not found:
        return f"loop stalls >= {min_ms:g} ms: none"
    lines = [
        f"loop stalls >= {min_ms:g} ms: {len(found)}, {sum(s.ms for s in found):.0f} ms in all;"
        " the longest:"
    ]
    lines += [
        f"  {s.ms:6.0f} ms at {s.start_ms / 1000:6.2f} s  {s.where}"
        for s in sorted(found, key=lambda s: -s.ms)[:top]
    ]
    by_place: Counter[str] = Counter()
    for s in found:
        by_place[s.where] += round(s.ms)
    lines.append("  by place (ms in stalls):")
    lines += [f"  {ms:6d}  {where}" for where, ms in by_place.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--min-ms", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    print(report(args.profile, min_ms=args.min_ms, top=args.top))


if __name__ == "__main__":
    main()
