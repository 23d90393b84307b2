"""The local executor: a spawn pool that survives dying workers."""

from __future__ import annotations

from harness.plugin.contracts import Executor
from harness_plugins.executors.local import LocalExecutor, WorkerDied

from helpers import runner as h


def run_all(executor, fn, items):
    try:
        return list(executor.map(fn, items))
    finally:
        executor.close()


def test_local_executor_satisfies_the_contract():
    assert isinstance(LocalExecutor(workers=1), Executor)


def test_every_item_comes_back_once_from_two_workers():
    results = run_all(LocalExecutor(workers=2), h.square_slowly, range(4))
    assert sorted(item for item, _ in results) == [0, 1, 2, 3]
    assert all(result[0] == item * item for item, result in results)
    assert len({pid for _, (_, pid) in results}) == 2  # both workers ran something


def test_an_exception_is_returned_for_its_item_only():
    results = dict(run_all(LocalExecutor(workers=2), h.fail_on_three, range(5)))
    assert isinstance(results.pop(3), KeyError)
    assert results == {0: 0, 1: 1, 2: 2, 4: 4}


def test_a_dying_worker_fails_its_item_and_the_rest_finish():
    # item 3 dies while another worker is mid-item: the pool breaks for both,
    # and only the one that dies again when run alone is reported
    results = dict(run_all(LocalExecutor(workers=2), h.die_on_three, range(6)))
    assert isinstance(results.pop(3), WorkerDied)
    assert results == {0: 0, 1: 1, 2: 2, 4: 4, 5: 5}


def test_in_process_mode_runs_here_and_returns_exceptions():
    results = dict(run_all(LocalExecutor(in_process=True), h.fail_on_three, range(4)))
    assert isinstance(results.pop(3), KeyError)
    assert results == {0: 0, 1: 1, 2: 2}


def test_workers_get_their_share_of_the_cores_as_torch_threads():
    executor = LocalExecutor(workers=2, threads=1)
    [(_, (env, torch_threads))] = run_all(executor, h.thread_settings, [None])
    assert (env, torch_threads) == ("1", 1)
    assert LocalExecutor(workers=1, threads=0).threads >= 1
    assert LocalExecutor(workers=64).threads == 1
