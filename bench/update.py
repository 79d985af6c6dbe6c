"""--update-baselines: the session's measured groups written into its baseline file (bench/store.py keeps them:
merged with what is there, written atomically)."""

from __future__ import annotations

from bench import store
from finetune import environment


def updated_groups(suite) -> dict:
    """The figure groups this session measured: its fine-tunes' quality, each seed's step time as one session."""
    provenance = suite.provenance()
    groups = store.quality_groups([r.to_dict() for r in suite.quality_results.values()], provenance)
    stored = (store.load(suite.baseline_path) or {}).get("figures") or {}
    for (device, batch_size, seed), record in sorted(suite.step_results.items()):
        key = suite.step_key(device, batch_size)  # each seed's step time is one session of the group
        groups[key] = store.step_group(record.blocks_ms, groups.get(key) or stored.get(key), {
            **provenance, "seeds": [seed], "device": record.device_name})
    return groups


def write_baselines(suite) -> str:
    groups = updated_groups(suite)
    if not groups:
        return "--update-baselines: nothing was measured, baselines unchanged"
    header = {"model": suite.options.model, "hardware_key": suite.hardware_key, "hardware": environment.hardware(),
              "calibration": suite.calibration}
    current = store.load(suite.baseline_path)  # re-read: another update may have landed meanwhile
    document = store.merged(current, header, groups)
    store.write_atomic(suite.baseline_path, document)
    return f"--update-baselines: wrote {len(groups)} figure group(s) to {suite.baseline_path}"
