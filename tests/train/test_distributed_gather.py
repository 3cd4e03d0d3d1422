"""A real 2-process gloo run: gathered loss and gradients equal one process on the concatenated batch."""

from __future__ import annotations

import torch
import torch.multiprocessing as mp
from _infonce_reference import gather_worker, make_batch

from train.distributed import gather_no_grad, gather_with_grad, is_distributed, local_rows
from train.losses import MS_SWIFT, QWEN3, improved_infonce_loss, matryoshka_loss

WORLD = 2
EMB, IDS = ("q", "d_pos", "d_neg"), ("pos_ids", "neg_ids", "query_ids")


def test_single_process_functions_are_identities() -> None:
    x = torch.randn(3, 4)
    assert not is_distributed()
    assert gather_with_grad(x) is x and gather_no_grad(x) is x and local_rows(3) == slice(0, 3)


def test_two_gloo_ranks_equal_one_process_on_the_concatenated_batch(tmp_path) -> None:
    mp.spawn(gather_worker, args=(WORLD, str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    b = make_batch()
    n_local = b["q"].shape[0] // WORLD
    cases = {
        "qwen3": lambda *a: improved_infonce_loss(*a, config=QWEN3),
        "ms_swift": lambda *a: improved_infonce_loss(*a, config=MS_SWIFT),
        "mrl": lambda *a: matryoshka_loss(*a, dims=[4, 8, 16], config=QWEN3),
    }
    for name, fn in cases.items():
        leaves = [b[key].clone().requires_grad_() for key in EMB]
        loss = fn(*leaves, *(b[key] for key in IDS))
        loss.backward()
        # each rank averages its own rows: the mean over ranks is the global mean
        mean_of_ranks = torch.stack([r[name]["loss"] for r in ranks]).mean()
        torch.testing.assert_close(mean_of_ranks, loss.detach(), atol=1e-6, rtol=0)
        assert (
            abs(ranks[0][name]["loss"] - ranks[1][name]["loss"]) > 1e-3
        )  # the ranks did compute different rows
        for i, leaf in enumerate(leaves):
            # gradients of the local inputs, averaged over ranks as DDP does, equal the global loss's gradients
            gathered = torch.cat([r[name]["grads"][i] for r in ranks]) / WORLD
            assert leaf.grad.abs().max() > 1e-3
            torch.testing.assert_close(gathered, leaf.grad, atol=1e-6, rtol=0)
    assert n_local * WORLD == b["q"].shape[0]
