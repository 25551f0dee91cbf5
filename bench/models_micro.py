"""Micro-benchmark of the builder layer: a builder or dict in, the wire form out.

The calls a command makes before it sends a frame, each timed as a user writes
it (the builder is made inside the timed call), so a change to how builders are
validated or serialised shows here first:

* ``media_to_wire`` with a Tts builder, the flat dict and the nested dict;
* ``devices_to_wire`` with a Phone, and ``device_to_wire`` with a Sip carrying headers;
* ``collect_config_to_wire`` with Digits, and ``pay_prompts_to_wire`` with a dict.

Each figure is the best of several ``timeit`` repeats (µs per call), so it shows
the cost of the code rather than the machine's noise.

    .venv/bin/python bench/models_micro.py [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signalwire_relay_trio._models import (
    Digits,
    Phone,
    Sip,
    Tts,
    collect_config_to_wire,
    device_to_wire,
    devices_to_wire,
    media_to_wire,
    pay_prompts_to_wire,
)

PROMPT = {"for": "payment-card-number", "actions": [{"type": "Say", "phrase": "Card?"}]}

CASES: dict[str, Callable[[], object]] = {
    "media Tts builder": lambda: media_to_wire([Tts(text="hi")]),
    "media flat dict": lambda: media_to_wire([{"type": "tts", "text": "hi"}]),
    "media nested dict": lambda: media_to_wire([{"type": "tts", "params": {"text": "hi"}}]),
    "devices Phone": lambda: devices_to_wire(
        Phone(to_number="+15553330000", from_number="+15551230000", timeout=30)
    ),
    "device Sip + headers": lambda: device_to_wire(
        Sip(to="sip:desk@pbx", from_="sip:bot@example.com", headers={"X-Ticket": "T-1"})
    ),
    "collect Digits": lambda: collect_config_to_wire(Digits(max=4)),
    "pay prompt dict": lambda: pay_prompts_to_wire([PROMPT]),
}


def best_us(func: Callable[[], object], repeat: int) -> float:
    """Best of ``repeat`` timed loops, in µs per call of ``func``."""
    timer = timeit.Timer(func)
    loops, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=loops)) / loops * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed loops per figure")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = parser.parse_args()
    results = {name: best_us(func, args.repeat) for name, func in CASES.items()}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"Python {sys.version.split()[0]}; µs per call, best of {args.repeat}")
    for name, micros in results.items():
        print(f"{name:<24}{micros:>10.2f}")


if __name__ == "__main__":
    main()
