"""The heavy steps' memory habits, in a fresh interpreter each (malloc's settings are process-wide)."""

import gc
import subprocess
import sys

import pytest

from learning_assets.memory import MALLOPT, heavy_work

CYCLES = """
import resource
import numpy as np
from learning_assets.memory import heavy_work

def faults_per_cycle():
    # columns built and dropped together: 40 MB freed at once, more than glibc's own trim threshold
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        columns = [np.ones(1_000_000) for _ in range(5)]
        del columns
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5

faults_per_cycle()  # malloc's dynamic thresholds settle
outside = faults_per_cycle()
with heavy_work():
    faults_per_cycle()
    inside = faults_per_cycle()
print(outside, inside)
"""


@pytest.mark.skipif(MALLOPT is None, reason="needs glibc's mallopt")
def test_heavy_work_reuses_freed_memory_instead_of_faulting_in_fresh_pages():
    out = subprocess.run([sys.executable, "-c", CYCLES], capture_output=True, text=True, check=True)
    outside, inside = map(float, out.stdout.split())
    assert outside > 100  # the 40 MB faulted in again on every cycle (in huge pages where numpy gets them)
    assert inside < outside / 10


def test_heavy_work_pauses_the_cyclic_collector_and_restores_it():
    assert gc.isenabled()
    with heavy_work():
        assert not gc.isenabled()
    assert gc.isenabled()
