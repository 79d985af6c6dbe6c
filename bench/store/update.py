"""--update-baselines: the session's measured groups written into its baseline file (bench/store/baselines.py keeps them:
merged with what is there, written atomically)."""

from __future__ import annotations

from bench.store import baselines
from finetune import environment


def updated_groups(suite) -> dict:
    """{fingerprint: the figure groups this session measured there}: its fine-tunes' quality under the session's
    fingerprint, each seed's step time as one session under its device's (a GPU runner's CPU step times under its
    CPU's: bench.session.comparisons.StoredFigures.key_of)."""
    provenance = suite.provenance()
    by_file = {suite.hardware_key: baselines.quality_groups([r.to_dict() for r in suite.quality_results.values()],
                                                       provenance)}
    for (device, batch_size, seed), record in sorted(suite.step_results.items()):
        key = suite.step_key(device, batch_size)  # each seed's step time is one session of the group
        baseline, fingerprint = suite.stored_for(key)
        groups = by_file.setdefault(fingerprint, {})
        groups[key] = baselines.step_group(record.blocks_ms, groups.get(key) or ((baseline or {}).get("figures") or {}).get(key), {
            **provenance, "seeds": [seed], "device": record.device_name})
    return {fingerprint: groups for fingerprint, groups in by_file.items() if groups}


def write_baselines(suite) -> str:
    by_file = updated_groups(suite)
    if not by_file:
        return "--update-baselines: nothing was measured, baselines unchanged"
    written = []
    for fingerprint, groups in by_file.items():
        path = baselines.path_for(suite.baseline_dir, suite.options.model, fingerprint)
        header = {"model": suite.options.model, "hardware_key": fingerprint, "hardware": environment.hardware(),
                  "calibration": suite.calibration}
        current = baselines.load(path)  # re-read: another update may have landed meanwhile
        if current is not None and fingerprint != suite.key_of("cpu") and suite.key_of("cpu") in by_file:
            current = baselines.without_cpu_groups(current, suite.key_of("cpu"))  # migrated: now in the CPU's file
        baselines.write_atomic(path, baselines.merged(current, header, groups))
        written.append(f"{len(groups)} figure group(s) to {path}")
    return f"--update-baselines: wrote {'; '.join(written)}"
