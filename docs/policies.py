"""Draw how each placement policy places the same jobs (docs/_static/policies.png).

Run from the repository root after building fluxpool:

    python docs/policies.py

Every square is one core or GPU; its colour is the job the pool placed there.
The placements come from fluxpool itself: the same six requests are given, in
the same order, to a first-fit, a worst-fit and a best-fit pool.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from fluxpool import IDset, ResourcePool  # noqa: E402

# Six nodes: two GPU nodes (8 cores, 2 GPUs), two 8-core nodes, two 4-core nodes.
R = {
    "version": 1,
    "execution": {
        "R_lite": [
            {"rank": "0-1", "children": {"core": "0-7", "gpu": "0-1"}},
            {"rank": "2-3", "children": {"core": "0-7"}},
            {"rank": "4-5", "children": {"core": "0-3"}},
        ],
        "nodelist": ["node[0-5]"],
        "starttime": 0,
        "expiration": 0,
    },
}


def slots(n, cores=1, gpus=0):
    inner = [{"type": "core", "count": cores}]
    if gpus:
        inner.append({"type": "gpu", "count": gpus})
    return {"type": "slot", "count": n, "label": "task", "with": inner}


def nodes(n, child, exclusive=False):
    return {"type": "node", "count": n, "exclusive": exclusive, "with": [child]}


def jobspec(resource):
    return {"version": 1, "resources": [resource], "tasks": [],
            "attributes": {"system": {"duration": 0}}}


JOBS = [
    ("job 1: 1 slot x 3 cores", jobspec(slots(1, cores=3))),
    ("job 2: 2 slots x 2 cores", jobspec(slots(2, cores=2))),
    ("job 3: 1 slot x 2 cores + 1 GPU", jobspec(slots(1, cores=2, gpus=1))),
    ("job 4: 2 nodes x 1 core", jobspec(nodes(2, slots(1)))),
    ("job 5: 1 whole node", jobspec(nodes(1, slots(1), exclusive=True))),
    ("job 6: 1 slot x 4 cores", jobspec(slots(1, cores=4))),
]
COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
POLICIES = ["first-fit", "worst-fit", "best-fit"]


def placements(policy):
    """{(rank, "core"|"gpu", id): job index} after placing every job."""
    pool = ResourcePool(R, policy=policy)
    owner = {}
    for index, (_, spec) in enumerate(JOBS):
        alloc = pool.alloc(index + 1, pool.parse_resource_request(spec))
        for entry in alloc.to_dict()["execution"]["R_lite"]:
            for rank in IDset(entry["rank"]):
                for kind in ("core", "gpu"):
                    for i in IDset(entry["children"].get(kind, "")):
                        owner[(rank, kind, i)] = index
    return pool, owner


def draw(path):
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), sharey=True)
    topology = ResourcePool(R)
    shape = {}
    for entry in topology.to_dict()["execution"]["R_lite"]:
        for rank in IDset(entry["rank"]):
            shape[rank] = (len(IDset(entry["children"]["core"])),
                           len(IDset(entry["children"].get("gpu", ""))))
    for ax, policy in zip(axes, POLICIES):
        _, owner = placements(policy)
        for rank, (ncores, ngpus) in shape.items():
            for kind, count, y0 in (("core", ncores, 0), ("gpu", ngpus, 9)):
                for i in range(count):
                    job = owner.get((rank, kind, i))
                    face = COLOURS[job] if job is not None else "white"
                    ax.add_patch(Rectangle((rank + 0.1, y0 + i + 0.05), 0.8, 0.9,
                                           facecolor=face, edgecolor="#555555",
                                           hatch="//" if kind == "gpu" else None))
        ax.set_xlim(0, len(shape))
        ax.set_ylim(-0.2, 11.2)
        ax.set_xticks([r + 0.5 for r in shape])
        ax.set_xticklabels([f"node{r}" for r in shape], fontsize=8)
        ax.set_yticks([0.5, 3.5, 7.5, 9.5, 10.5])
        ax.set_yticklabels(["core 0", "core 3", "core 7", "GPU 0", "GPU 1"], fontsize=8)
        ax.set_title(f'policy="{policy}"')
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    handles = [Patch(facecolor=c, edgecolor="#555555", label=label)
               for c, (label, _) in zip(COLOURS, JOBS)]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle("The same six jobs, in order, on the same six nodes", fontsize=11)
    fig.tight_layout(rect=(0, 0.14, 1, 0.95))
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "_static" / "policies.png"
    draw(out)
    for policy in POLICIES:
        pool, _ = placements(policy)
        print(f"{policy:10s} {pool.copy_allocated().dumps()}")
    print("wrote", out)
