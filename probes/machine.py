"""Machine facts: cores (logical, physical, usable), SMT siblings, NUMA nodes, CPU model, frequency
and governor, kernel, memory, library versions, thread env.

Facts the kernel does not expose here (no cpufreq in most VMs and containers) are None, never
guessed."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from probes.tree.cgroup import cpu_quota
from probes.tree.cgroup import usable_cores as _usable_cores

# The only environment variables a result may record: thread and library settings.
ENV_WHITELIST = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "OMP_WAIT_POLICY",
    "OMP_PROC_BIND",
    "GOMP_SPINCOUNT",
    "KMP_BLOCKTIME",
    "KMP_AFFINITY",
    "RAY_ADDRESS",
    "PYTHONHASHSEED",
)
LIBRARIES = ("torch", "optuna", "joblib", "ray", "psutil", "py-spy", "threadpoolctl", "numpy", "rich",
             "scipy", "matplotlib", "pyelftools")
SYS_CPU = Path("/sys/devices/system/cpu")
SYS_NODE = Path("/sys/devices/system/node")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def parse_cpu_list(text: str) -> list[int]:
    """A kernel CPU list ("0-3,8,10-11") as CPU numbers."""
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def smt_siblings(sys_cpu: Path = SYS_CPU) -> int | None:
    """Hardware threads per core, from cpu0's topology (1 = no SMT); None when not exposed."""
    text = _read(sys_cpu / "cpu0" / "topology" / "thread_siblings_list")
    try:
        return len(parse_cpu_list(text)) if text else None
    except ValueError:
        return None


def numa_nodes(sys_node: Path = SYS_NODE) -> int | None:
    """NUMA nodes with CPUs (the kernel's has_cpu list, else node* folders); None if unknown."""
    text = _read(sys_node / "has_cpu")
    try:
        if text:
            return len(parse_cpu_list(text))
    except ValueError:
        pass
    try:
        nodes = [p for p in sys_node.iterdir() if p.name.startswith("node") and p.name[4:].isdigit()]
    except OSError:
        return None
    return len(nodes) or None


def cpu_frequency(sys_cpu: Path = SYS_CPU) -> dict[str, Any]:
    """Scaling governor(s) and current / max MHz of cpu0 where the kernel exposes cpufreq;
    the current MHz falls back to psutil (which reads /proc/cpuinfo) when it does not."""
    governors = set()
    try:
        for cpu in sys_cpu.glob("cpu[0-9]*"):
            gov = _read(cpu / "cpufreq" / "scaling_governor")
            if gov:
                governors.add(gov)
    except OSError:
        pass

    def mhz(name: str) -> float | None:
        text = _read(sys_cpu / "cpu0" / "cpufreq" / name)
        try:
            return int(text) / 1000.0 if text else None
        except ValueError:
            return None

    current, top = mhz("scaling_cur_freq"), mhz("cpuinfo_max_freq")
    if current is None or top is None:
        try:
            import psutil

            freq = psutil.cpu_freq()
        except (OSError, NotImplementedError, AttributeError):
            freq = None
        if freq is not None:
            current = current if current is not None else (round(freq.current, 1) or None)
            top = top if top is not None else (round(freq.max, 1) or None)  # 0.0 = unknown
    return {
        "cpu_governor": ",".join(sorted(governors)) if governors else None,
        "cpu_mhz": current,
        "cpu_max_mhz": top,
    }


def cgroup_cpu_limit(pid: int = 0) -> float | None:
    """CPUs allowed by the quota of process `pid`'s own cgroup and its parents (v2 cpu.max, v1
    cfs_quota; 0 = this process), or None when unlimited."""
    quota = cpu_quota(pid or "self")
    return None if quota is None else quota.cores


def usable_cores(pid: int = 0) -> int:
    """CPU affinity of process `pid` (0 = this one) intersected with its cgroup quota (at least 1)."""
    return _usable_cores(pid)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def thread_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {k: env[k] for k in ENV_WHITELIST if k in env}


def git_state(cwd: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the checkout the code runs from (None outside git)."""
    here = cwd or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=5,
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def threadpools() -> list[dict[str, Any]]:
    """threadpoolctl's view of the native thread pools loaded in this process."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def fingerprint(include_torch: bool = True, pid: int = 0) -> dict[str, Any]:
    """The machine facts a result carries, with a short id that says 'same machine shape'.
    Usable cores and the cgroup limit are those of process `pid` (0 = this one: the job a
    strategy run starts inherits them; `bench attach` passes the target's)."""
    import psutil

    logical = psutil.cpu_count(logical=True) or 1
    physical = psutil.cpu_count(logical=False) or logical
    facts: dict[str, Any] = {
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "logical_cores": logical,
        "physical_cores": physical,
        "smt": logical > physical,
        "smt_siblings": smt_siblings(),
        "numa_nodes": numa_nodes(),
        **cpu_frequency(),
        "usable_cores": usable_cores(pid),
        "cgroup_cpu_limit": cgroup_cpu_limit(pid),
        "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": library_versions(),
        "thread_env": thread_env(),
    }
    if include_torch:
        try:
            import torch

            facts["torch_threads"] = torch.get_num_threads()
            facts["torch_interop_threads"] = torch.get_num_interop_threads()
        except ImportError:
            facts["torch_threads"] = None
        facts["threadpools"] = threadpools()
    key = f"{facts['cpu_model']}|{logical}|{physical}|{facts['usable_cores']}|{facts['memory_bytes'] // 2**30}"
    facts["id"] = hashlib.sha256(key.encode()).hexdigest()[:12]
    return facts
