"""The session's figures judged against the stored groups they have: this runner's nights (--history), else the
committed baseline of this host's fingerprint, else (quality only) a band another host of the same numerics lends
(bench/store/lending.py), else nothing (a skip naming the machines that have one). The rules are
bench/judge/verdicts.py's; this is the part of the session (bench/session/suite.py's Suite) that knows which group a figure meets
and keeps each verdict for the summary.
"""

from __future__ import annotations

from bench.store import baselines
from bench.judge import verdicts
from finetune import calibration, environment, runtime


class StoredFigures:
    """Suite's judgements (a mixin: it reads the session's options, baseline, fingerprint, engine and verdicts)."""

    def compare(self, test_id: str, name: str, value: float, key: str, confirm=None, **kwargs) -> tuple:
        """The verdict on `value` against its stored band; with `confirm` (a step time: upper bound only), a value
        above the bound is timed once more before it fails (verdicts.check_confirmed). A step time is judged only
        by its device's fingerprint's baseline (stored_for); a quality figure by this host's band, else one a host
        of the same numerics lends (lent_band); with neither, the comparison is skipped, naming the machines that
        have one."""
        lent = None if confirm is not None or self.options.update else self.lent_band(key)
        baseline, fingerprint = self.stored_for(key)
        if self.options.update:
            verdict = (None, f"{name} {value:.4g} recorded for the baseline update ({key})")
        elif lent is not None:
            where = f"{self.options.model} on {fingerprint}, {key}; {lent.where()}"
            verdict = verdicts.check_quality(name, value, lent.group, where, create=self.create_command(), **kwargs)
        elif baseline is None:
            verdict = (None, self.missing_baseline(name, key))
        else:
            where = f"{self.options.model} on {fingerprint}, {key}"
            if confirm is None:
                group = (baseline.get("figures") or {}).get(key)
                verdict = verdicts.check_quality(name, value, group, where, create=self.create_command(), **kwargs)
            else:
                verdict = verdicts.check_confirmed(name, value, baselines.figure_of(baseline, key, name), where, confirm,
                                                create=self.create_command())
        self.verdicts.append((test_id, *verdict))
        self.figures_judged.append((test_id, name, verdict[0], lent.fingerprint if lent is not None else ""))
        return verdict

    def key_of(self, device: str | None) -> str:
        """The fingerprint a figure measured on `device` is keyed by: a step time on the CPU by the CPU's on every
        host, a GPU runner's included (its CPU step times are no other CPU's); the session's own otherwise."""
        return self.hardware_key if device is None else environment.hardware_key(device)

    def stored_for(self, key: str) -> tuple:
        """(the baseline document a group `key` is judged by, its fingerprint): a step time's by its device's
        fingerprint (bench.store.baselines.device_of_key), everything else by the session's (quality: the training device's).
        A GPU runner's CPU step times that an older update kept in the GPU's file count as this CPU's where they
        were measured on it (bench.store.baselines.cpu_groups_kept_by_a_gpu_file: the migration)."""
        fingerprint = self.key_of(baselines.device_of_key(key))
        if fingerprint == self.hardware_key:
            return self.baseline, self.hardware_key
        if fingerprint not in self._device_baselines:
            own = baselines.load(baselines.path_for(self.baseline_dir, self.options.model, fingerprint))
            kept = baselines.cpu_groups_kept_by_a_gpu_file(self.baseline, fingerprint)
            if kept:
                own = {**(own or {}), "figures": {**kept, **((own or {}).get("figures") or {})}}
            self._device_baselines[fingerprint] = own
        return self._device_baselines[fingerprint], fingerprint

    def lent_band(self, key: str):
        """The quality band another host lends this one for `key` (bench.bands), or None: only where this host has
        no band of its own that gates (a group of two seeds or more, not every one collapsed). Asked once a key."""
        from bench.store import lending

        own = ((self.baseline or {}).get("figures") or {}).get(key)
        if own and lending.Holder(self.hardware_key, own).gates():
            return None
        if key not in self._lent:
            self._lent[key] = lending.lender(self.baseline_dir, self.options.model, key, self.hardware_key,
                                           self.engine.versions())
        return self._lent[key][0]

    def compare_step(self, test_id: str, blocks_ms: list, key: str, confirm) -> tuple:
        """A step time's verdict: its blocks (per process, passes as ms/step) against stored sessions
        (verdicts.check_blocks): this runner's own nights where --history holds enough of them (bench.history.
        baseline_group), else the committed baseline's sessions, else the band of older baselines (compare). A
        calibration that drifted from the baseline's is named in the message; it never turns a failure into a skip
        (the calibration does not track the step: docs/gates.md). Returns (passed, message, statistics or None)."""
        baseline, fingerprint = self.stored_for(key)
        group = ((baseline or {}).get("figures") or {}).get(key)
        source = f"{self.options.model} on {fingerprint}, {key}"
        nights, why_not = self.history_group(key)
        if nights is not None:
            group, source = nights, f"{source}; this runner's history: {nights['provenance']['described']}"
        if self.options.update or (nights is None and (baseline is None or not baselines.stored_sessions(group))):
            def mean(processes) -> float:
                return sum(map(sum, processes)) / sum(map(len, processes))

            passed, message = self.compare(test_id, "step_time_ms", mean(blocks_ms), key,
                                           confirm=lambda: mean(confirm()))
            if why_not and passed is None:
                message = f"{message}; {why_not}"
                self.verdicts[-1] = (test_id, passed, message)
            return passed, message, None
        passed, message, statistics_ = verdicts.check_blocks("step_time_ms", blocks_ms, group, source, confirm)
        warning = None if nights is not None else self.calibration_warning()
        if warning:
            message = f"{message} [note: {warning}]"
        self.verdicts.append((test_id, passed, message))
        self.figures_judged.append((test_id, "step_time_ms", passed, ""))
        return passed, message, statistics_

    def history_group(self, key: str) -> tuple:
        """(a step-time group of this runner's nights under --history, or None; why none, or "")."""
        if self.options.history is None:
            return None, ""
        from bench.history import cli as history

        cpu = self.key_of("cpu")
        if baselines.device_of_key(key) == "cpu" and cpu != self.hardware_key:
            key = f"{key}/cpu={cpu}"  # a GPU runner's CPU step time: its series of this CPU (bench.history.nights.on_its_cpu)
        return history.baseline_group(self.options.history, self.hardware_key, key, self.engine.versions())

    def missing_baseline(self, name: str, key: str) -> str:
        here = f"{self.hardware_key}: {self.host.describe(runtime.device_kind('auto'))}"
        others = "; ".join(f"{other} ({described})" for other, described in self.other_baselines) or "none"
        nights = "" if self.options.history is not None or not key.startswith("step_time/") else (
            "; or keep this runner's nights with --history DIR: its step time is gated from the 3rd")
        if key.startswith("quality/"):
            why = (self._lent.get(key) or (None, ""))[1] or "none holds this group"
            return (f"no baseline for {name} ({key}) on this machine ({here}), and no other host of the same numerics "
                    f"lends one ({why}): {others}. Create one here with: {self.create_command()}")
        return (f"no baseline for {name} ({key}) on this machine ({here}); step times of other machines are never a "
                f"gate: {others}. Create one here with: {self.create_command()}{nights}")

    def create_command(self) -> str:
        """The command that measures this session's missing baselines here."""
        engine = "".join(f"{flag} " for flag in self.engine.flags())
        return f"python3 dev.py bench --tier {self.options.tier.name} {engine}--update-baselines --seeds 5"

    @property
    def calibration(self) -> dict:
        """The calibration workload (finetune.calibration), timed once, on first use: the session's start."""
        if self._calibration is None:
            self._calibration = calibration.measure(self.engine.device_kind(), backend=self.engine.array_backend)
        return self._calibration

    def calibration_warning(self) -> str | None:
        stored = ((self.baseline or {}).get("calibration")) or None
        return calibration.drift(self.calibration, stored)
