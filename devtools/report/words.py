"""Words of hateful comments: tokenizing, and how many comments use each word."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable

# Own list (not wordcloud.STOPWORDS) so the aggregation needs no plotting package and
# stays unit-testable without it. Contractions appear without apostrophes too because
# Reddit text often drops them.
_STOP_TEXT = (
    "a about above after again against all also am an and any are aren't arent as at be because been before being "
    "below between both but by can can't cant cannot could couldn't couldnt did didn't didnt do does doesn't doesnt "
    "doing don't dont down during each else ever few for from further get gets got had hadn't hadnt has hasn't "
    "hasnt have haven't havent having he he'd he'll he's hed hes her here here's heres hers herself him himself his "
    "how how's hows however i i'd i'll i'm i've id ill im ive if in into is isn't isnt it it's its itself just "
    "let's lets like me more most much must mustn't my myself no nor not now of off on once one only or other ought "
    "our ours ourselves out over own really same say said shan't she she'd she'll she's shes should shouldn't "
    "shouldnt so some such than that that's thats the their theirs them themselves then there there's theres these "
    "they they'd they'll they're they've theyre theyve this those though through to too under until up upon us very "
    "was wasn't wasnt we we'd we'll we're we've were weren't werent weve what what's whats when when's where "
    "where's which while who who's whos whom why why's will with won't wont would wouldn't wouldnt yeah yes yet you "
    "you'd you'll you're you've youd youll youre youve your yours yourself yourselves amp nbsp gt lt http https www "
    "com deleted removed gonna wanna even still back go going know think thing things make see well way lol every "
    "something anything anyone someone everyone actually"
)
STOP_WORDS = frozenset(_STOP_TEXT.split())

_URL = re.compile(r"(?:https?://|www\.)\S+|\S+\.(?:com|org|net|io|gg|ly)(?:/\S*)?\b", re.IGNORECASE)
# r/sub and u/user references are names, not words.
_REDDIT_REF = re.compile(r"(?<![\w/])/?[ru]/\w+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def tokenize(text: str) -> list[str]:
    """Lower-case words of ``text`` without URLs, r/ u/ references, numbers or stop words."""
    text = html.unescape(text).replace("\u2019", "'").lower()
    text = _URL.sub(" ", text)
    text = _REDDIT_REF.sub(" ", text)
    words = (w.strip("'") for w in _WORD.findall(text))
    return [w for w in words if len(w) > 1 and w not in STOP_WORDS]


def document_frequencies(texts: Iterable[str]) -> Counter[str]:
    """Word -> number of texts that use it (once per text, however often it repeats there).

    One comment repeating a word six times is one voice, not six: weighting by comments keeps
    a single rant from dominating the cloud.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(tokenize(text)))
    return counts


def top_words(counts: Counter[str], min_comments: int, limit: int) -> list[tuple[str, int]]:
    """The ``limit`` words used by the most comments, each by at least ``min_comments``; ties by word."""
    kept = [(w, c) for w, c in counts.items() if c >= min_comments]
    kept.sort(key=lambda wc: (-wc[1], wc[0]))
    return kept[:limit]
