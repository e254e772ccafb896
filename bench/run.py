"""Budgets of the functions, measured side by side (the first part of `make bench`).

1. Cold start of each function: a fresh interpreter that imports the function's entry module
   (which makes its clients), with only that function's own code archive (and the layer, when
   `handlers/requirements.txt` lists a dependency) on the path, against
   `import boto3; boto3.client("sesv2")` in the same conditions; the whole process, start to
   exit, as Lambda's init phase is; rounds interleaved so the machine's noise hits every
   side alike. The verdict compares the CPU each process spent (user + system, minimum over the
   rounds): a function's init is CPU-bound, and on a shared machine the wall time mostly measures
   the neighbours (it is printed beside). Budget: `COLD_START_BUDGET` for the queue-fed
   functions; the daily report's figure is printed, and so is the floor of a lane, which needs two
   clients (`sesv2` and `dynamodb`, made with botocore alone), plainly and with the init heap
   frozen as the handlers freeze it (`handlers.entry.end_of_init`): a function against the frozen
   floor is what our own modules cost.
2. Size: each function's archive (and the layer, if any), within `packaging`'s budgets.
3. CPU per email: a lane's whole work per email with its real botocore clients, their HTTP layer
   stubbed (bench/lane_cpu.py), against one bare SendEmail through the same client; budget
   `lane_cpu.BUDGET_RATIO`, with the milliseconds and what they take on a 256 MB function.

Exits non-zero when a budget is exceeded by more than the noise measured between runs.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import lane_cpu  # noqa: E402
from ses_email_pipeline.handlers.shared.timeouts import vcpus  # noqa: E402
from ses_email_pipeline.packaging import (  # noqa: E402
    HANDLER_ZIP_BUDGET_KB, LAYER_ZIP_BUDGET_MB, build_handler_zip, build_layer_zip)

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20"))
BASELINE = 'import boto3; boto3.client("sesv2")'
#: What no lane can go below: botocore and the two clients it sends with.
LANE_FLOOR = ('import botocore.session; session = botocore.session.get_session(); '
              'session.create_client("sesv2"); session.create_client("dynamodb")')
#: The same, with the init heap frozen where the handlers freeze it (`handlers.entry.end_of_init`):
#: a function against this one is what our own code costs.
FROZEN_LANE_FLOOR = ('import gc, botocore.session; gc.freeze(); session = botocore.session.get_session(); '
                     'session.create_client("sesv2"); session.create_client("dynamodb"); gc.freeze()')
FUNCTIONS = ("handlers.templated", "handlers.priority", "handlers.status", "handlers.report")
#: The queue-fed functions, whose cold start delays mail. The report runs once a day from a
#: schedule, where nobody waits on it, and needs three services (SES, DynamoDB, CloudWatch).
BUDGETED = ("handlers.templated", "handlers.priority", "handlers.status")
COLD_START_BUDGET = 1.10
#: How far the ratio of minimums moves between runs of the same code on the shared 2-core machines
#: (bench/README.md has the runs); a miss by less than that is reported, not failed.
COLD_START_NOISE = 0.03
#: Rounds of the CPU-per-email measurement, and how far its ratio moved between runs of the same
#: code on the shared machine (2.7x to 4.0x on 2026-12-04: the lane's ten send threads pay for a
#: busy machine's scheduling more than one bare call does); a miss by less is reported, not failed.
CPU_ROUNDS = 25
CPU_NOISE = 0.4
#: The lanes' memory as deployed (EmailSenderArgs' default), for what CPU per email takes in wall time.
LANE_MEMORY_MB = 256


def unpack(archive: Path, into: Path) -> Path:
    """An archive unpacked, with bytecode for this interpreter too (the archives carry Lambda's 3.12 bytecode).

    Both sides of the comparison then start from bytecode, as boto3 does in the runtime.
    """
    zipfile.ZipFile(archive).extractall(into)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(into)],
                   check=True)
    return into


def whole_process(code: str, paths: list[Path]) -> tuple[float, float]:
    """(wall, CPU) seconds of a fresh interpreter running `code` with only `paths` (and the interpreter's own boto3)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths)), "AWS_REGION": "eu-west-1",
           "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=tempfile.gettempdir())
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def cold_starts(code_dirs: dict[str, Path], layer: list[Path]) -> dict[str, list[tuple[float, float]]]:
    """Each function's, the baseline's and the lane floor's (wall, CPU) seconds, `ROUNDS` interleaved rounds."""
    runs = {"baseline": (BASELINE, layer), "lane floor": (LANE_FLOOR, layer),
            "frozen lane floor": (FROZEN_LANE_FLOOR, layer),
            **{name: (f"import {name}", [code_dirs[name], *layer]) for name in code_dirs}}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, (code, paths) in runs.items():
            samples[name].append(whole_process(code, paths))
    return samples


def verdict(ratio: float, budget: float, noise: float) -> str:
    """Over the budget by less than the noise measured between runs is reported, not failed."""
    if ratio <= budget:
        return "ok"
    return "OVER (within noise)" if ratio <= budget + noise else "OVER"


def program_under_mocks_seconds(rounds: int = 3) -> float:
    """Wall time of `__main__.py` for the dev stack under Pulumi's mocks (archives already built)."""
    from local.program import run_stack

    run_stack("dev")  # warm: builds and caches the archives
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run_stack("dev")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    build = ROOT / "build"
    archives = {name: build_handler_zip(ROOT / "handlers", build / f"{name}.zip", name) for name in FUNCTIONS}
    layer_zip = build_layer_zip(ROOT / "handlers" / "requirements.txt", build)
    ok = True
    with tempfile.TemporaryDirectory() as scratch:
        code_dirs = {name: unpack(archive, Path(scratch) / name) for name, archive in archives.items()}
        layer = [unpack(layer_zip, Path(scratch) / "layer") / "python"] if layer_zip else []
        samples = cold_starts(code_dirs, layer)
    base = samples.pop("baseline")
    base_cpu, base_wall = min(cpu for _, cpu in base), min(wall for wall, _ in base)
    print(f"cold start (whole process, {ROUNDS} interleaved rounds, Python {sys.version.split()[0]}); "
          f"`{BASELINE}`: CPU min {base_cpu * 1000:.0f} ms, wall min {base_wall * 1000:.0f} ms, "
          f"median {statistics.median(wall for wall, _ in base) * 1000:.0f} ms")
    frozen_floor = min(cpu for _, cpu in samples["frozen lane floor"])
    for name, values in samples.items():
        cpu, wall = min(cpu for _, cpu in values), min(wall for wall, _ in values)
        ratio = cpu / base_cpu  # noise only ever adds time: the verdict compares minimums
        status = verdict(ratio, COLD_START_BUDGET, COLD_START_NOISE) if name in BUDGETED else "informational"
        ok &= status != "OVER"
        print(f"  {name:<20} CPU min {cpu * 1000:4.0f} ms {ratio:.2f}x ({cpu / frozen_floor:.2f}x the frozen lane "
              f"floor); wall min {wall * 1000:4.0f} ms {wall / base_wall:.2f}x "
              f"(budget {COLD_START_BUDGET:.2f}x CPU, noise {COLD_START_NOISE:.2f}) {status}")
    for name, archive in archives.items():
        size_kb = archive.stat().st_size / 1024
        ok &= size_kb < HANDLER_ZIP_BUDGET_KB
        print(f"  {name:<20} archive {size_kb:.1f} KB (budget {HANDLER_ZIP_BUDGET_KB} KB)"
              f"{'' if size_kb < HANDLER_ZIP_BUDGET_KB else ' OVER'}")
    if layer_zip is None:
        print("  no layer: handlers/requirements.txt lists no dependency")
    else:
        layer_mb = layer_zip.stat().st_size / 1024 / 1024
        ok &= layer_mb < LAYER_ZIP_BUDGET_MB
        print(f"  layer {layer_mb:.2f} MB (budget {LAYER_ZIP_BUDGET_MB} MB)")
    lane, floor = lane_cpu.measure(rounds=CPU_ROUNDS)
    ratio = lane / floor
    status = verdict(ratio, lane_cpu.BUDGET_RATIO, CPU_NOISE)
    ok &= status != "OVER"
    print(f"CPU per email (templated lane, real botocore clients, HTTP stubbed, {CPU_ROUNDS} rounds): {lane:.2f} ms = "
          f"{ratio:.2f}x one bare SendEmail ({floor:.2f} ms), budget {lane_cpu.BUDGET_RATIO:.2f}x, noise "
          f"{CPU_NOISE:.1f}: {status}; at {LANE_MEMORY_MB} MB "
          f"({vcpus(LANE_MEMORY_MB):.3f} vCPU) about {lane / vcpus(LANE_MEMORY_MB):.0f} ms of wall time per email")
    print(f"program under Pulumi mocks (dev stack): {program_under_mocks_seconds():.2f} s (informational)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
