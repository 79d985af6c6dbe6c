"""Whether hosts agree on a quality group, so that one may lend its band to another: a GLUE score depends on what
decides the numbers (the model, the recipe in the group's key, the engine, the precision, the device type and the
libraries' versions), not on which CPU of a type ran it. Two hosts agree when each one's stored seeds lie in the
other's band (bench.judge.verdicts.outside); the store (bench.store.lending) finds the holders and the lender."""

from __future__ import annotations

from dataclasses import dataclass

from bench.judge import verdicts
from bench.judge.figures import Figure
from finetune.tasks import METRIC_RANGE

NOT_NUMERICS = ("pytest-benchmark",)  # recorded versions that cannot change a score
METRICS = tuple(METRIC_RANGE)  # every GLUE metric a group may hold


def numerics_versions(versions: dict | None) -> dict:
    """The recorded versions that can change a score (every library the run imports, less NOT_NUMERICS)."""
    return {name: value for name, value in (versions or {}).items() if name not in NOT_NUMERICS}


def device_type(fingerprint: str) -> str:
    """`cpu` or `gpu`: the device type a baseline file's figures were measured on (its fingerprint's prefix)."""
    return fingerprint.split("-", 1)[0]


@dataclass(frozen=True)
class Holder:
    """One host's stored group of a quality key."""

    fingerprint: str
    group: dict

    @property
    def versions(self) -> dict:
        return numerics_versions((self.group.get("provenance") or {}).get("versions"))

    def scores(self) -> dict:
        """{metric: Figure} of the group's GLUE metrics."""
        return {name: Figure.from_dict(self.group[name]) for name in METRICS if self.group.get(name)}

    def gates(self) -> bool:
        """Whether its band can gate anything: two or more seeds, not every one collapsed."""
        return (any(figure.n >= 2 for figure in self.scores().values())
                and not verdicts.all_collapsed(self.group))


def differs(one: Holder, other: Holder, resolution: float = 0.0) -> str | None:
    """How `other`'s stored scores fall outside `one`'s band (a seed's value), or None where they agree."""
    for name, figure in one.scores().items():
        theirs = other.scores().get(name)
        if theirs is None:
            continue
        outside, derived = verdicts.outside(figure, theirs.values, resolution)
        if outside:
            return (f"{other.fingerprint}'s {name} {outside[0]:.4f} is outside {one.fingerprint}'s band "
                    f"[{derived.low:.4f}, {derived.high:.4f}]")
    return None


def agreement(found: list[Holder], resolution: float = 0.0) -> tuple[list[Holder], list[tuple[Holder, str]]]:
    """(the hosts that agree with the reference host, [(a host that does not, how)]). The reference is the host
    with the most stored seeds (ties: by fingerprint); a host agrees when each one's scores lie in the other's band."""
    ranked = sorted(found, key=lambda h: (-max((f.n for f in h.scores().values()), default=0), h.fingerprint))
    if not ranked:
        return [], []
    reference, agreeing, differing = ranked[0], [ranked[0]], []
    for other in ranked[1:]:
        why = differs(reference, other, resolution) or differs(other, reference, resolution)
        if why:
            differing.append((other, why))
        else:
            agreeing.append(other)
    return agreeing, differing


@dataclass(frozen=True)
class Lent:
    """A band lent by another host: its group, the host, and why it may stand for this one."""

    fingerprint: str
    group: dict
    why: str

    def where(self) -> str:
        return f"the band of {self.fingerprint}, lent: {self.why}"


def lender(found: list[Holder], key: str, fingerprint: str, versions: dict,
           resolution: float = 0.0) -> tuple[Lent | None, str]:
    """(the band another host lends to `fingerprint` for `key`, or None; why none). A lender measured the same
    model and recipe (the key) on the same device type with the same library versions, gates (two seeds or more,
    not all collapsed) and agrees with the other hosts that hold the group."""
    candidates = [h for h in found
                  if h.fingerprint != fingerprint and device_type(h.fingerprint) == device_type(fingerprint)]
    same = [h for h in candidates if h.versions == numerics_versions(versions)]
    if not same:
        if candidates:
            return None, (f"{len(candidates)} other host(s) hold {key} but with other library versions "
                          f"({candidates[0].fingerprint}: {version_difference(candidates[0].versions, versions)})")
        return None, ""
    agreeing, differing = agreement(same, resolution)
    gating = [h for h in agreeing if h.gates()]
    if not gating:
        return None, f"no host of the same numerics has a band that gates {key}"
    chosen = gating[0]
    others = [h.fingerprint for h in agreeing if h is not chosen]
    why = (f"same model, recipe, engine, device type ({device_type(fingerprint)}) and library versions"
           + (f"; agreed by {', '.join(others)}" if others else "")
           + ("".join(f"; {h.fingerprint} differs and keeps its own ({how})" for h, how in differing)))
    return Lent(chosen.fingerprint, chosen.group, why), ""


def version_difference(theirs: dict, ours: dict) -> str:
    names = sorted(set(theirs) | set(numerics_versions(ours)))
    changed = [f"{n} {theirs.get(n)} here {ours.get(n)}" for n in names if theirs.get(n) != ours.get(n)]
    return ", ".join(changed[:3]) or "none"
