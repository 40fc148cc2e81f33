"""Obfuscated feature names in Numerai's style: ``feature_<word>_<word>_<word>``, fixed by the seed."""

from __future__ import annotations

from typing import Final

from numeraud.sandbox.datagen.seeds import seeded_rng

# Word lists for obfuscated feature names (kept compact; ruff would put one word per line).
# fmt: off
_FIRST_WORDS: Final = (
    "abactinal", "abiogenetic", "acaudate", "acronychal", "adnate", "aeolotropic", "agnate", "alary",
    "amygdaloid", "anatropous", "antistrophic", "apodal", "areolate", "aspheric", "atrophied", "baric",
    "bicipital", "brumal", "caducous", "callous", "caudate", "chthonic", "cismontane", "clastic",
    "coelomate", "conchal", "coralline", "cortical", "crenate", "cuneal", "decussate", "deltoid", "dentate",
    "dioecious", "distal", "echinate", "emarginate", "ensiform", "epigeal", "faveolate", "fictile",
    "fimbriate", "flexuous", "fossorial", "fulvous", "galactic", "geodic", "glabrous", "hastate", "hemal",
    "hispid", "hyaline", "imbricate", "lenticular", "lithoid", "lobate", "lunate",
)
_SECOND_WORDS: Final = (
    "striate", "sulcate", "tessellate", "testaceous", "torose", "tumid", "umbonate", "unguiculate",
    "venose", "vermiform", "villous", "vitreous", "zonate", "acerose", "alated", "amentaceous", "aquiline",
    "arcuate", "bifid", "bracteate", "calcific", "carinate", "cernuous", "ciliate", "clavate", "cordate",
    "cristate", "cupular", "cymose", "digitate", "discoid", "echinoid", "falcate", "ferruginous", "fissile",
    "foliate", "fusiform", "gemmate", "globose", "gyral", "hirsute", "incurved", "laminar", "lanceolate",
    "ligulate", "linear", "lyrate", "mucronate", "napiform", "nodose", "obovate", "ocellate", "ovate",
)
_THIRD_WORDS: Final = (
    "conscriptionist", "abolitionist", "alienist", "annalist", "antiquarian", "apiarist", "archivist",
    "assayer", "augur", "balladeer", "bibliophile", "botanist", "calligrapher", "cartographer", "chandler",
    "chronicler", "cooper", "cosmographer", "cryptographer", "diarist", "dramaturge", "emblematist",
    "engraver", "essayist", "farrier", "fabulist", "geodesist", "glossarist", "hagiographer", "herbalist",
    "hydrographer", "illuminator", "lapidary", "lexicographer", "luthier", "mechanist", "metallurgist",
    "miniaturist", "navigator", "numismatist", "oculist", "orrerist", "palaeographer", "philatelist",
    "pilgrim", "polymath", "quarrier", "rhetorician", "scrivener", "surveyor", "vintner",
)
# fmt: on


#: How many distinct feature names the word lists make.
MAX_FEATURES: Final = len(_FIRST_WORDS) * len(_SECOND_WORDS) * len(_THIRD_WORDS)


def make_feature_names(seed: int, count: int) -> list[str]:
    """``count`` unique ``feature_<word>_<word>_<word>`` names; a smaller count gives a prefix."""
    n2, n3 = len(_SECOND_WORDS), len(_THIRD_WORDS)
    picks = seeded_rng(seed, "feature-names").permutation(len(_FIRST_WORDS) * n2 * n3)[:count]
    return [
        f"feature_{_FIRST_WORDS[p // (n2 * n3)]}_{_SECOND_WORDS[p // n3 % n2]}_{_THIRD_WORDS[p % n3]}"
        for p in picks.tolist()
    ]
