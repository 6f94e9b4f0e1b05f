"""Small language helpers shared by fact extraction, recall and the rules brain."""

import re

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "about",
        "from",
        "by",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "i",
        "me",
        "my",
        "mine",
        "you",
        "your",
        "yours",
        "we",
        "our",
        "us",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "not",
        "no",
        "yes",
        "just",
        "really",
        "very",
        "too",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "there",
        "here",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "some",
        "more",
        "most",
        "much",
        "many",
        "such",
        "only",
        "own",
        "same",
        "than",
        "also",
        "again",
        "ever",
        "still",
        "know",
        "tell",
        "please",
        "like",
        "think",
        "want",
        "get",
        "got",
        "go",
        "going",
        "say",
        "said",
    ]
)
WORD = re.compile(r"[a-zA-Z][a-zA-Z'-]*")

REFLECTIONS = {
    "i": "you", "me": "you", "my": "your", "mine": "yours", "i'm": "you're",
    "i've": "you've", "i'll": "you'll", "i'd": "you'd", "myself": "yourself",
    "your": "my", "yours": "mine", "you're": "I'm", "you've": "I've",
    "you'll": "I'll", "yourself": "myself",
}  # fmt: skip
# After these (or at the start) "you" is a subject ("I"); elsewhere an object ("me").
_SUBJECT_BEFORE = frozenset(["and", "but", "or", "that", "because", "if", "when", "so", "while", "since", "as"])
# Leave-takings end what is said ("I have to go now", not "I have to go to work tomorrow"; "see you",
# not "I can't see you"); "bye" and "goodbye" are goodbyes wherever they are.
GOODBYE = re.compile(
    r"\b(?:bye|goodbye|bye-bye|farewell|ttyl|cya)\b"
    r"|\b(?:talk (?:to you )?(?:later|soon|tomorrow)|catch you later|got(?:ta| to) go|(?:have|need) to go|must go"
    r"|take care|(?<!a )good ?night|(?<!to )(?<!t )(?<!not )see (?:you|ya)(?: (?:later|soon|tomorrow|around|then))?"
    r"|(?:off|going|heading) to (?:bed|sleep)|(?:i should|i need to|i'd better|i better) (?:go to )?(?:sleep|bed|go)"
    r")(?: now)?(?=\s*(?:$|[.!,;]))",
    re.IGNORECASE,
)


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def keywords(text: str) -> set[str]:
    """Content words: what a sentence is about, for matching memories to questions."""
    return {_stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 2}


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def reflect(fragment: str) -> str:
    """Swap first and second person: "my job bores me" -> "your job bores you",
    "I'm better talking to you" -> "you're better talking to me", "I was" -> "you were"."""
    out: list[str] = []
    for token in fragment.split():
        bare = token.strip(".,!?;:").lower()
        previous = out[-1].lower() if out else ""
        swapped: str | None
        if bare == "you":
            swapped = "I" if not out or previous in _SUBJECT_BEFORE else "me"
        elif bare == "am" and previous == "you":
            swapped = "are"
        elif bare == "are" and previous == "i":
            swapped = "am"
        elif bare == "was" and previous == "you":
            swapped = "were"
        elif bare == "were" and previous == "i":
            swapped = "was"
        else:
            swapped = REFLECTIONS.get(bare)
        out.append(swapped if swapped is not None else token.strip(".,!?;:"))
    return " ".join(out)


def is_goodbye(text: str) -> bool:
    return GOODBYE.search(text) is not None


_CLAUSE_END = re.compile(
    r"[.!?;,]|\s(?:-|and|but|because|so|which|who|whom|where|when|while|since|though|although|if|until|unless)\s",
    re.IGNORECASE,
)


def clean_value(value: str) -> str:
    """A fact's value as said, up to the end of its clause ("Lena and she's visiting" -> "Lena")."""
    value = _CLAUSE_END.split(f"{value.strip()} ", maxsplit=1)[0]
    return value.strip(" ,'\"").strip()


def formal(text: str, formality: float) -> str:
    """A formal persona (formality >= 0.7) does not use contractions."""
    if formality < 0.7:
        return text
    for short, full in (
        ("What's been", "What has been"),
        ("what's been", "what has been"),
        ("I'm", "I am"),
        ("I'll", "I will"),
        ("I'd", "I would"),
        ("That's", "That is"),
        ("What's", "What is"),
        ("what's", "what is"),
        ("I've", "I have"),
        ("isn't", "is not"),
        ("won't", "will not"),
        ("Let's", "Let us"),
        ("that's", "that is"),
        ("Here's", "Here is"),
        ("haven't", "have not"),
        ("didn't", "did not"),
        ("you'd", "you would"),
        ("something's", "something is"),
        ("You're", "You are"),
        ("you're", "you are"),
        ("you've", "you have"),
        ("can't", "cannot"),
        ("It's", "It is"),
        ("it's", "it is"),
        ("don't", "do not"),
    ):
        text = text.replace(short, full)
    return text
