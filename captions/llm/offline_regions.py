"""The offline writer's sentences about the regions, in DOMAIN.md's order. No Django.

Regions in a row whose top classes have the same size levels share one sentence
("The bottom right looks much the same."); the others are described in one of five
sentence families, shuffled per caption, never two openings alike in a row.
"""

from captions.landcover import REGION_NAMES
from captions.llm.offline_phrases import (
    CLAUSE_INTROS,
    EMPTY_AGAIN,
    EMPTY_AGAIN_MANY,
    EMPTY_REGION,
    LIST_FIRST,
    LIST_INTROS,
    SAME_AS_BEFORE,
    SAME_AS_BEFORE_MANY,
    SAME_SINGLE,
    SAME_SINGLE_MANY,
    SEQUENCE_WORDS,
    SHARE_VERBS,
    SPARSE_REGION,
)
from captions.llm.offline_words import Share, Words, capitalise


class RegionSentences:
    def __init__(
        self, words: Words, landcover: dict, regions: dict[str, list[Share]]
    ) -> None:
        self.words = words
        self.rng = words.rng
        self.landcover = landcover
        self.regions = regions

    def sentences(self) -> list[str]:
        """One or two sentences per run of alike regions, in REGION_NAMES order."""
        sentences: list[str] = []
        runs = _runs(
            [(name, self.regions[name], self.valid(name) > 0) for name in REGION_NAMES]
        )
        families = list(range(5))
        self.rng.shuffle(families)
        for index, run in enumerate(runs):
            shares = self.regions[run[0]][:3]
            previous = sentences[-1] if sentences else ""
            sentences.append(
                self.run_opening(run[0], shares, families, index, previous)
            )
            if len(run) > 1:
                sentences.append(self.repeated_regions(run[1:], shares))
        return sentences

    def run_opening(
        self,
        region: str,
        shares: list[Share],
        families: list[int],
        index: int,
        previous: str,
    ) -> str:
        """The sentence about the first region of a run, opening unlike `previous`."""
        if not shares:
            return self.empty_region(region)
        sentence = self.describe_region(region, shares, families[index % 5])
        for retry in range(1, 3):  # two sentences in a row opening alike
            if _opening(sentence) != _opening(previous):
                break
            family = families[(index + retry) % 5]
            sentence = self.describe_region(region, shares, family)
        if index and self.rng.random() < 0.2 and sentence.startswith("The "):
            sentence = self.rng.choice(SEQUENCE_WORDS) + "t" + sentence[1:]
        return sentence

    def valid(self, region: str) -> int:
        return sum(e["pixels"] for e in self.landcover["regions"][region])

    def empty_region(self, region: str) -> str:
        options = EMPTY_REGION if self.valid(region) == 0 else SPARSE_REGION
        return self.rng.choice(options).format(r=self.words.region(region))

    def repeated_regions(self, regions: list[str], shares: list[Share]) -> str:
        """One sentence for regions that repeat the region described before them."""
        phrases = [self.words.region(r) for r in regions]
        options: tuple[str, ...]
        kinds: tuple[tuple[str, ...], tuple[str, ...]]
        if not shares:
            kinds = (EMPTY_AGAIN, EMPTY_AGAIN_MANY)
        elif len(shares) == 1:
            kinds = (SAME_SINGLE, SAME_SINGLE_MANY)
        else:
            kinds = (SAME_AS_BEFORE, SAME_AS_BEFORE_MANY)
        if len(phrases) == 1:
            options, listed = kinds[0], phrases[0]
        else:
            options = kinds[1]
            listed = ", the ".join(phrases[:-1]) + " and the " + phrases[-1]
        return self.rng.choice(options).format(r=listed)

    def describe_region(self, region: str, shares: list[Share], family: int) -> str:
        first = shares[0]
        if len(shares) == 1 and first.level == 4:
            return self.single_class(region, first)
        if (
            family == 4
            and len(shares) >= 2
            and first.level >= 2
            and first.p - shares[1].p <= 8
            and shares[1].p >= 25
        ):
            return self.split(region, shares)
        if (
            family >= 3
            and first.fraction > 0.5
            and (len(shares) == 1 or first.p - shares[1].p >= 15)
        ):
            return self.dominated(region, shares)
        if family == 2:
            return self.clauses(region, shares)
        if family == 1:
            return self.list_first(region, shares)
        return self.list_after_intro(region, shares)

    def list_after_intro(self, region: str, shares: list[Share]) -> str:
        listed = self.words.join([self.words.size_np(s) for s in shares])
        return self.rng.choice(LIST_INTROS).format(
            r=self.words.region(region), l=listed
        )

    def list_first(self, region: str, shares: list[Share]) -> str:
        listed = self.words.join([self.words.size_np(s) for s in shares], plain=True)
        pattern, verbs = self.rng.choice(LIST_FIRST)
        verb = verbs[len(shares) > 1]
        sentence = pattern.format(l=listed, v=verb, r=self.words.region(region))
        return capitalise(sentence)

    def clauses(self, region: str, shares: list[Share]) -> str:
        rng = self.rng
        verbs = list(SHARE_VERBS)
        rng.shuffle(verbs)
        parts: list[str] = []
        amounts: list[str] = []
        for index, share in enumerate(shares):
            name, plural = self.words.name(share.code)
            verb = verbs[index][plural]
            if name.endswith("cover") and verb.startswith("cover"):
                verb = verbs[-1][plural]  # not "snow cover covers"
            amount = self.words.quantity(share, index == 0)
            if amount in amounts:  # not "less than a tenth" twice
                amount = self.words.size_np_head(share)
            amounts.append(amount)
            parts.append(f"{name} {verb} {amount}")
        if len(parts) > 1 and rng.random() < 0.5:
            head = f"{parts[0]} of the {self.words.region(region)}"
            tail = parts[1] if len(parts) == 2 else f"{parts[1]} and {parts[2]}"
            return capitalise(f"{head}, while {tail}.")
        intro = rng.choice(CLAUSE_INTROS).format(r=self.words.region(region))
        body = parts[0] if len(parts) == 1 else self.join_clauses(parts)
        return f"{intro}{body}."

    def join_clauses(self, parts: list[str]) -> str:
        if len(parts) == 2:
            return self.rng.choice(("{0} and {1}", "{0}, while {1}")).format(*parts)
        return self.rng.choice(("{0}, {1} and {2}", "{0}, {1}, and {2}")).format(*parts)

    def dominated(self, region: str, shares: list[Share]) -> str:
        rng = self.rng
        first, rest = shares[0], shares[1:]
        name, plural = self.words.name(first.code)
        r = self.words.region(region)
        tail = ""
        if rest:
            listed = self.words.join([self.words.size_np(s) for s in rest])
            tail = rng.choice((", with {0}", ", alongside {0}", ", accompanied by {0}"))
            tail = tail.format(listed)
        options = [
            f"The {r} is dominated by {name}{tail}.",
            f"{name} {'dominate' if plural else 'dominates'} the {r}{tail}.",
            f"The {r} is mostly {name}{tail}.",
        ]
        if first.fraction > 0.5:
            options.append(f"Most of the {r} is {name}{tail}.")
        if first.p >= 90:
            options.append(f"Nearly all of the {r} is {name}{tail}.")
        return capitalise(rng.choice(options))

    def single_class(self, region: str, share: Share) -> str:
        name, plural = self.words.name(share.code)
        r = self.words.region(region)
        options: tuple[str, ...]
        if share.fraction >= 0.9995:
            options = (
                f"The {r} is entirely {name}.",
                f"The {r} is completely covered by {name}.",
                f"Only {name} {'are' if plural else 'is'} found in the {r}.",
            )
        elif share.p >= 90:
            options = (
                f"The {r} is almost entirely {name}.",
                f"Nearly all of the {r} is {name}.",
                f"The {r} is covered by {self.words.size_np(share)}.",
            )
        else:
            options = (
                f"The {r} is mostly {name}.",
                f"The {r} is covered by {self.words.size_np(share)}.",
            )
        return self.rng.choice(options)

    def split(self, region: str, shares: list[Share]) -> str:
        first, second = (self.words.name(s.code)[0] for s in shares[:2])
        tail = f", plus {self.words.size_np(shares[2])}" if len(shares) > 2 else ""
        r = self.words.region(region)
        return self.rng.choice(
            (
                f"The {r} is split almost evenly between {first} and {second}{tail}.",
                f"{capitalise(first)} and {second} share the {r} in roughly equal "
                f"measure{tail}.",
            )
        )


def _runs(regions: list[tuple[str, list[Share], bool]]) -> list[list[str]]:
    """Consecutive regions whose top three classes have the same size levels (or
    that are both empty, or both nearly empty)."""
    runs: list[list[str]] = []
    previous: tuple | None = None
    for name, shares, valid in regions:
        signature = tuple((s.code, s.level) for s in shares[:3]) or ("empty", valid)
        if runs and signature == previous:
            runs[-1].append(name)
        else:
            runs.append([name])
        previous = signature
    return runs


def _opening(sentence: str) -> list[str]:
    return sentence.split()[:2]
