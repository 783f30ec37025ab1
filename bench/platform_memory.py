"""Memory of the platform's pods on the kind node, as the kubelet counts it (working set:
usage minus inactive page cache), read from each pod's cgroup inside the node container —
the cluster has no metrics-server, and the locally built node image has no crictl.

    python -m bench.platform_memory      (after `make demo`)
"""

from __future__ import annotations

import subprocess

from platform_driver.cluster import Cluster

# cgroup v1 (the node's layout) and v2, with the systemd driver: QoS slice, then pod slice.
ROOTS = (
    "/sys/fs/cgroup/memory/kubelet.slice/kubelet-kubepods.slice",
    "/sys/fs/cgroup/kubelet.slice/kubelet-kubepods.slice",
)
SCRIPT = r"""
for root in {roots}; do
  [ -d "$root" ] || continue
  for pod in $(find "$root" -maxdepth 2 -type d -name '*-pod*.slice'); do
    uid=${{pod##*-pod}}; uid=${{uid%.slice}}
    if [ -f "$pod/memory.usage_in_bytes" ]; then
      usage=$(cat "$pod/memory.usage_in_bytes")
      inactive=$(awk '$1 == "total_inactive_file" {{print $2}}' "$pod/memory.stat")
    else
      usage=$(cat "$pod/memory.current")
      inactive=$(awk '$1 == "inactive_file" {{print $2}}' "$pod/memory.stat")
    fi
    echo "$uid $((usage - inactive))"
  done
  break
done
"""


def working_sets(cluster: Cluster) -> dict[str, int]:
    """Pod uid → working-set bytes, for every pod on the node."""
    out = subprocess.run(
        [
            "docker",
            "exec",
            f"{cluster.name}-control-plane",
            "sh",
            "-c",
            SCRIPT.format(roots=" ".join(ROOTS)),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        uid.replace("_", "-"): int(size)
        for uid, size in (line.split() for line in out.splitlines() if line.strip())
    }


def main() -> None:
    cluster = Cluster()
    sizes = working_sets(cluster)
    pods = cluster.get_json("pods", "--field-selector=status.phase=Running")["items"]
    rows = sorted(
        ((p["metadata"]["name"], sizes.get(p["metadata"]["uid"], 0)) for p in pods),
        key=lambda row: -row[1],
    )
    print(f"memory of the running pods in namespace {cluster.namespace} (working set, MiB)")
    for name, size in rows:
        print(f"  {name:<48} {size / 2**20:>8.0f}")
    print(f"  {'total':<48} {sum(size for _, size in rows) / 2**20:>8.0f}")


if __name__ == "__main__":
    main()
