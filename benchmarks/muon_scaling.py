"""Zero-redundancy Muon at scale, on paper: Newton–Schulz FLOPs and bytes per rank per step.

Pure integer arithmetic, no torch, no GPU: it runs instantly anywhere.

    python benchmarks/muon_scaling.py              # markdown table + ratio lines
    python benchmarks/muon_scaling.py --json       # every figure, per model and rank count

Models (only the hidden weight matrices are on Muon; embeddings, head, norms, biases are not).
Shapes are ``(out, in)`` as ``nn.Linear`` stores them; FSDP2 shards dim 0:

- GPT-2-small (124M): 12 layers; fused attention ``c_attn`` 2304x768, ``attn.c_proj``
  768x768, ``mlp.c_fc`` 3072x768, ``mlp.c_proj`` 768x3072 (48 matrices, 84,934,656 elements).
- TinyLlama-1.1B: 22 layers, d 2048, GQA with 4 KV heads of 64: q, o 2048x2048, k, v
  256x2048; SwiGLU gate, up 5632x2048, down 2048x5632 (154 matrices).
- Llama-2-7B: 32 layers; q, k, v, o 4096x4096; gate, up 11008x4096, down 4096x11008
  (224 matrices, 6,476,005,376 elements).

Newton–Schulz (quintic, 5 steps, as ``torch.optim.Muon``) on an m x n matrix transposed so
that m <= n: per step ``G = X Xᵀ`` (2m²n), ``G·G`` (2m³), ``(bG + cG²)·X`` (2m²n): 5·(4m²n +
2m³) FLOPs (a multiply-add is 2 FLOPs). Element-wise work (the norm, the ``a``/``b``/``c``
scalings: O(mn + m²) per step, < 1% here for m >= 256) is ignored.

Today every rank orthogonalizes every matrix. Zero-redundancy assigns each matrix to one
owner: largest NS cost first, onto the least-loaded rank (ties: lowest rank). Its per-rank
FLOPs are the most-loaded rank's. Bytes are per rank per step, the max over ranks of
max(sent, received) (full-duplex links), NS traffic only: the gradient all-reduce (DDP) and
FSDP2's own parameter all-gather / gradient reduce-scatter are the same in both designs and
are left out.

- DDP today: 0 (every rank has the full reduced gradient and momentum).
- DDP zero-redundancy: owners share their bf16 results (2 bytes/element) in one ring
  all-gather of variable-size per-rank blocks: rank r receives E - own_r and sends
  E - own_(r+1) (E: all elements), so the max is 2·(E - min_r own_r) bytes.
- FSDP2: a matrix of R rows is sharded into chunks of ceil(R/N) rows (padded, as FSDP2 and
  DTensor all-gather them); s = ceil(R/N)·cols elements per rank. The momentum-updated
  update is fp32 (4 bytes/element).
  Today: ``full_tensor()`` is a ring all-gather per matrix: each rank sends and receives
  (N-1)·s·4 bytes; the result is split locally (no traffic).
  Zero-redundancy: each non-owner sends its fp32 shard to the owner (s·4), the owner receives
  (N-1)·s·4; after NS the owner scatters the bf16 rows back: sends (N-1)·s·2, each non-owner
  receives s·2.

Memory: full matrices materialized per rank per step (FSDP2). Today every matrix, one at a
time (peak: the largest, fp32, plus NS workspace); zero-redundancy only the owned ones.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

NS_STEPS = 5
RANKS = (8, 64, 512)
MB = 10**6
Row = dict[str, Any]


class Matrix(NamedTuple):
    name: str
    rows: int  # dim 0, the one FSDP2 shards
    cols: int

    @property
    def numel(self) -> int:
        return self.rows * self.cols


def ns_flops(rows: int, cols: int, steps: int = NS_STEPS) -> int:
    """Matmul FLOPs of quintic Newton–Schulz on a rows x cols matrix: steps·(4m²n + 2m³)."""
    m, n = min(rows, cols), max(rows, cols)
    return steps * (4 * m * m * n + 2 * m**3)


def _layers(n: int, per_layer: Sequence[tuple[str, int, int]], prefix: str) -> list[Matrix]:
    return [Matrix(f"{prefix}.{i}.{name}", r, c) for i in range(n) for name, r, c in per_layer]


def gpt2_small() -> list[Matrix]:
    d, f = 768, 3072
    per = [("attn.c_attn", 3 * d, d), ("attn.c_proj", d, d), ("mlp.c_fc", f, d),
           ("mlp.c_proj", d, f)]  # fmt: skip
    return _layers(12, per, "h")


def llama(layers: int, d: int, ffn: int, kv: int) -> list[Matrix]:
    per = [("q_proj", d, d), ("k_proj", kv, d), ("v_proj", kv, d), ("o_proj", d, d),
           ("gate_proj", ffn, d), ("up_proj", ffn, d), ("down_proj", d, ffn)]  # fmt: skip
    return _layers(layers, per, "layers")


MODELS: dict[str, list[Matrix]] = {
    "GPT-2-small": gpt2_small(),
    "TinyLlama-1.1B": llama(22, 2048, 5632, 4 * 64),
    "Llama-2-7B": llama(32, 4096, 11008, 4096),
}


def assign(costs: Sequence[int], ranks: int) -> list[int]:
    """Owner of each matrix: largest cost first, onto the least-loaded rank (ties: lowest)."""
    owner = [0] * len(costs)
    heap = [(0, r) for r in range(ranks)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        load, r = heapq.heappop(heap)
        owner[i] = r
        heapq.heappush(heap, (load + costs[i], r))
    return owner


def max_load(costs: Sequence[int], ranks: int) -> int:
    loads = [0] * ranks
    for c, r in zip(costs, assign(costs, ranks), strict=True):
        loads[r] += c
    return max(loads)


def floor_ranks(costs: Sequence[int]) -> int:
    """Fewest ranks at which the most-loaded rank does no more than the largest matrix."""
    return next(n for n in range(1, len(costs) + 1) if max_load(costs, n) == max(costs))


def analyse(matrices: Sequence[Matrix], n: int) -> Row:
    """Every figure for one model on ``n`` ranks (FLOPs and bytes per rank per step)."""
    costs = [ns_flops(m.rows, m.cols) for m in matrices]
    owner = assign(costs, n)
    flops, own, sent, recv, full = ([0] * n for _ in range(5))
    fsdp_today = 0
    for m, c, o in zip(matrices, costs, owner, strict=True):
        s = -(-m.rows // n) * m.cols  # padded shard elements
        fsdp_today += (n - 1) * s * 4
        flops[o] += c
        own[o] += m.numel
        full[o] += m.numel * 4
        sent[o] += (n - 1) * s * 2  # scatter bf16 rows back
        recv[o] += (n - 1) * s * 4  # gather fp32 shards
        for r in range(n):
            if r != o:
                sent[r] += s * 4
                recv[r] += s * 2
    total = sum(costs)
    elems = sum(m.numel for m in matrices)
    zr = max(flops)
    return {
        "ranks": n,
        "matrices": len(matrices),
        "muon_elements": elems,
        "ns_flops_total": total,
        "ns_flops_largest": max(costs),
        "ns_flops_rank_today": total,
        "ns_flops_rank_zr": zr,
        "ns_flops_rank_ideal": -(-total // n),
        "ddp_bytes_today": 0,
        "ddp_bytes_zr": 2 * (elems - min(own)),
        "fsdp_bytes_today": fsdp_today,
        "fsdp_bytes_zr": max(max(sent), max(recv)),
        "fsdp_full_bytes_today": elems * 4,
        "fsdp_full_bytes_zr": max(full),
        "fsdp_full_peak_today": max(m.numel for m in matrices) * 4,
        "idle_ranks": n - len(set(owner)),
        "floor_bound": zr == max(costs),
    }


def _g(flops: int) -> str:
    return f"{flops / 10**9:,.1f}"


def _mb(nbytes: int) -> str:
    return f"{nbytes / MB:,.0f}"


def markdown(rows: Sequence[Row], floors: dict[str, int]) -> str:
    head = [
        "model", "ranks", "NS GFLOP/rank today", "zero-red.", "today / zero-red.",
        "balance (ideal / zero-red.)", "DDP MB/rank today", "DDP zero-red.",
        "FSDP2 MB/rank today", "FSDP2 zero-red.", "FSDP2 full fp32 MB/rank today",
        "FSDP2 zero-red.", "floor-bound",
    ]  # fmt: skip
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        zr = r["ns_flops_rank_zr"]
        cells = [
            r["model"], str(r["ranks"]), _g(r["ns_flops_rank_today"]), _g(zr),
            f"{r['ns_flops_rank_today'] / zr:.2f}", f"{r['ns_flops_rank_ideal'] / zr:.2f}",
            _mb(r["ddp_bytes_today"]), _mb(r["ddp_bytes_zr"]),
            _mb(r["fsdp_bytes_today"]), _mb(r["fsdp_bytes_zr"]),
            _mb(r["fsdp_full_bytes_today"]), _mb(r["fsdp_full_bytes_zr"]),
            "yes" if r["floor_bound"] else "no",
        ]  # fmt: skip
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    for name, mats in MODELS.items():
        r0 = next(r for r in rows if r["model"] == name)
        out.append(
            f"{name}: {len(mats)} matrices, {r0['muon_elements']:,} Muon elements, "
            f"NS {_g(r0['ns_flops_total'])} GFLOP/step in all, largest matrix "
            f"{_g(r0['ns_flops_largest'])} GFLOP; floor reached at {floors[name]} ranks"
        )
    out.append("")
    for r in rows:
        ratio = r["ns_flops_rank_today"] / r["ns_flops_rank_zr"]
        what = f"NS FLOP/rank today / zero-redundancy ({r['model']}, {r['ranks']} ranks)"
        out.append(f"ratio {what}: {ratio:.2f}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="JSON instead of markdown")
    parser.add_argument("--markdown", action="store_true", help="markdown table (the default)")
    parser.add_argument("--quick", action="store_true", help="accepted; the full run is instant")
    parser.add_argument("--ranks", type=int, nargs="+", default=list(RANKS))
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for name, mats in MODELS.items():
        rows.extend({"model": name, **analyse(mats, n)} for n in args.ranks)
    floors = {name: floor_ranks([ns_flops(m.rows, m.cols) for m in mats])
              for name, mats in MODELS.items()}  # fmt: skip
    if args.json:
        print(json.dumps({"rows": rows, "floor_ranks": floors}, indent=1))
    else:
        print(markdown(rows, floors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
