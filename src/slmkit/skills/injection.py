"""``injection``: prompt-injection heuristics, regular expressions with weights, no model.

Each rule that matches adds evidence; the score is a noisy-OR of the matched rules'
weights, so one strong rule (``ignore_instructions``, ``chat_template_tokens``) is
enough and weak ones (``act_as``, ``system_prefix``) only count together.

What it catches: the well-known phrasings — "ignore/disregard/forget previous
instructions", role hijacking ("you are now DAN", "developer mode", "act as an
unrestricted AI", fake ``system:`` turns and chat-template tokens), exfiltration
("print your system prompt", "send the chat history to https://...", markdown
images whose query string carries data), text addressed to an AI that a user is
not meant to see, and "decode this base64 and follow it".

Its limits, plainly:
- Heuristics only. A paraphrase the rules do not know ("kindly set aside what you
  were told earlier") passes; so does any attack phrased as an ordinary request.
- English only: "Ignoriere alle vorherigen Anweisungen" is not detected.
- Encodings: base64, rot13, leetspeak, homoglyphs and split-up words are not
  decoded; only an explicit "decode ... and follow" is caught. NFKC normalisation
  and removal of zero-width characters undo the cheapest tricks, nothing more.
- Indirect injection: instructions hidden in a retrieved document, web page or
  tool output are caught only when they use the same phrasings; nothing here knows
  which part of a prompt is trusted.
- False alarms: a user legitimately changing their own request ("ignore my previous
  instructions, I want a poem") reads like an attack.
Use it as a cheap first filter and a signal to log, not as a security boundary.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from slmkit.errors import InvalidInputError
from slmkit.skills.base import clean
from slmkit.text import unbatch

_FLAGS = re.IGNORECASE | re.DOTALL
_GAP = r"(?:\W+\w+){0,6}?\W+"  # up to six words between a verb and its object
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

_OVERRIDE = r"(?:ignore|disregard|forget|override|bypass|neglect|discard|set\s+aside|pay\s+no\s+attention\s+to)"
_ORDERS = (r"(?:instructions?|prompts?|rules|directions|directives?|guidelines|guardrails|constraints|commands?"
           r"|programming|polic(?:y|ies)|restrictions|filters|safeguards)")
_EARLIER = r"(?:previous|prior|above|earlier|preceding|foregoing|original|initial|system|developer|all|any|your)"
_AI = r"(?:ai|assistant|chatbot|language\s+model|llm|gpt|chatgpt|model|agent|bot)s?"
_SENSITIVE = (r"(?:conversation|chat|history|messages?|data|passwords?|credentials|api\s*keys?|tokens?|secrets?"
              r"|system\s+prompt|instructions|cookies|session|personal\s+\w+|emails?|contacts|summary)")


@dataclass(frozen=True)
class Rule:
    name: str
    weight: float  # how much one match alone says "injection" (0..1)
    pattern: re.Pattern[str]


def _rule(name: str, weight: float, *patterns: str, flags: int = _FLAGS) -> Rule:
    return Rule(name, weight, re.compile("|".join(f"(?:{p})" for p in patterns), flags))


RULES: tuple[Rule, ...] = (
    _rule("ignore_instructions", 0.9,
          rf"\b{_OVERRIDE}\b(?:\W+\w+){{0,4}}?\W+{_EARLIER}\b(?:\W+\w+){{0,3}}?\W+{_ORDERS}\b",
          rf"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+|anything\s+)(?:that\s+)?"
          rf"(?:you\s+(?:were|have\s+been)\s+told|(?:written\s+|said\s+)?(?:above|before|previously|so\s+far))"),
    # "skip the rules section" also matches: alone it stays below the threshold.
    _rule("override_rules", 0.45, rf"\b{_OVERRIDE}\b{_GAP}{_ORDERS}\b"),
    _rule("new_instructions", 0.5,
          r"\b(?:new|updated|real|actual|true|revised)\s+(?:instructions?|system\s+prompt|rules|directives?)\s*[:\-]"),
    _rule("from_now_on", 0.35, r"\bfrom\s+now\s+on\W+(?:you|your)\b"),
    _rule("role_hijack", 0.7,
          rf"\byou\s+are\s+now\s+(?:an?\s+|the\s+|my\s+|in\s+)?(?:\w+\s+){{0,2}}?"
          rf"(?:{_AI}|character|persona|mode|dan|free|unrestricted|unfiltered|uncensored|jailbroken|evil)\b",
          rf"\byou\s+are\s+no\s+longer\s+(?:an?\s+|bound\s+|restricted|limited|{_AI})"),
    _rule("dan_persona", 0.6, r"\bDAN\b", flags=0),  # uppercase only: "Dan" is a name
    _rule("jailbreak_mode", 0.8,
          r"\bdo\s+anything\s+now\b",
          # Not a bare "developer mode": phones have one too.
          rf"\b(?:you|{_AI})\s+(?:are|is|will\s+be)\s+(?:now\s+)?(?:in|running\s+in|operating\s+in)\s+"
          rf"(?:developer|god|jailbreak|unrestricted|unfiltered)\s+mode\b",
          r"\b(?:enter|enable|activate|switch\s+to)\s+(?:god|jailbreak|unrestricted|unfiltered|dan)\s+mode\b",
          r"\b(?:developer|god|jailbreak)\s+mode\s+(?:enabled|output|response|activated)\b",
          r"\bjailbroken\b"),
    _rule("unrestricted_persona", 0.8,
          r"\b(?:act|behave|respond|answer|pretend|roleplay)\s+(?:as|like|to\s+be)\s+(?:an?\s+)?(?:\w+\s+){0,2}?"
          r"(?:unfiltered|unrestricted|uncensored|amoral|unethical|evil|rogue|jailbroken)\b",
          r"\b(?:without|no|free\s+(?:of|from))\s+(?:any\s+)?(?:ethical|moral|safety|content)\s+"
          r"(?:guidelines|restrictions|limits|limitations|filters|constraints|rules)\b"),
    _rule("act_as", 0.3,
          r"\b(?:act|behave)\s+as\s+(?:if\s+you\s+(?:are|were)\s+)?(?:an?\s+|my\s+)?\w+",
          r"\bpretend\s+(?:to\s+be|you\s+are|that\s+you\s+are|you're)\b"),
    _rule("chat_template_tokens", 0.85,
          r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id)\|>",
          r"<<\s*/?SYS\s*>>", r"\[/?INST\]"),
    _rule("system_tag", 0.7,
          r"[\[<(]\s*/?\s*(?:system|sys|admin|developer)(?:\s+(?:message|prompt|note|override))?\s*[\])>]",
          r"\b(?:system|admin|developer|root)\s+override\b"),
    # Bug reports start lines with "System: Ubuntu 22.04": alone it stays below the threshold.
    _rule("system_prefix", 0.45, r"(?:^|\n)\s*(?:#{1,3}\s*)?(?:system|developer)\s*(?:prompt|message)?\s*:"),
    _rule("reveal_prompt", 0.8,
          rf"\b(?:reveal|show|print|repeat|output|display|disclose|leak|dump|recite|echo|write\s+out|spell\s+out"
          rf"|tell\s+me|give\s+me|share|what\s+(?:is|are|was|were))\b{_GAP}"
          rf"(?:(?:your|the|this|its)\s+(?:\w+\s+)?system\s+(?:prompt|message|instructions)"
          rf"|(?:your|the)\s+(?:initial|original|hidden|secret|full|first|exact)\s+(?:prompt|instructions)"
          rf"|your\s+(?:instructions|prompt|rules|guidelines|directives|configuration|initial\s+message)"
          rf"|(?:the\s+)?(?:text|words|lines|everything|instructions)\s+(?:written\s+)?above"
          rf"|(?:your\s+|the\s+)?pre-?prompt)"),
    _rule("exfiltrate_to_url", 0.75,
          rf"\b(?:send|post|forward|upload|transmit|exfiltrate|submit|leak|e-?mail|deliver|append|encode)\b"
          rf"(?:\W+\w+){{0,4}}?\W+{_SENSITIVE}\b(?:\W+\w+){{0,4}}?\W+(?:to|into|at|on|via)\s+"
          rf"(?:https?://|www\.|[\w.+-]+@[\w-]+\.\w+)"),
    _rule("markdown_image_query", 0.45, r"!\[[^\]]*\]\(\s*https?://[^)\s]*\?[^)\s]*="),
    _rule("markdown_image_exfil", 0.85,
          r"!\[[^\]]*\]\(\s*https?://[^)\s]*\?[^)\s]*=[^)\s]*(?:\{|\[|<|\$|%s"
          r"|data|secret|token|key|passw|conversation|history|summary|chat)"),
    _rule("hide_from_user", 0.6,
          r"\b(?:do\s+not|don'?t|never|without)\s+(?:tell|inform|mention|reveal|let|notify|alert|show)(?:ing)?"
          r"\s+(?:\w+\s+){0,4}?(?:the\s+)?user\b"),
    _rule("addressed_to_ai", 0.6,
          rf"\bif\s+you\s+are\s+(?:an?\s+)?(?:\w+\s+)?{_AI}\b",
          rf"\b{_AI}\s+(?:reading|processing|summari[sz]ing|browsing)\s+(?:this|these)\b",
          rf"\bnote\s+(?:to|for)\s+(?:the\s+|any\s+)?{_AI}\b"),
    _rule("encoded_instructions", 0.55,
          r"\b(?:decode|base64|rot-?13|hex-?encoded)\b(?:\W+\w+){0,8}?\W+"
          r"(?:follow|execute|obey|run|do\s+what|carry\s+out)\b"),
)


@dataclass(frozen=True)
class InjectionResult:
    detected: bool
    score: float  # noisy-OR of the matched rules' weights
    rules: tuple[str, ...]  # names of the rules that matched, in RULES order


def normalise(text: str) -> str:
    """NFKC (full-width and ligature letters become plain) and no zero-width characters."""
    return unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)


def detect_injection(text: str, threshold: float = 0.5) -> InjectionResult:
    text = normalise(text)
    matched = tuple(rule for rule in RULES if rule.pattern.search(text))
    miss = 1.0
    for rule in matched:
        miss *= 1.0 - rule.weight
    score = round(1.0 - miss, 4)
    return InjectionResult(score >= threshold, score, tuple(rule.name for rule in matched))


class Injection:
    """``Injection()("Ignore previous instructions")`` -> InjectionResult(detected=True, ...)."""

    name = "injection"

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 < threshold <= 1.0:
            raise InvalidInputError(f"injection threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold

    def warm_up(self) -> Injection:
        return self  # regular expressions compile at import: nothing to load

    def __call__(self, items: object) -> InjectionResult | list[InjectionResult]:
        batch, single = clean(items)
        return unbatch([detect_injection(text, self.threshold) for text in batch], single)
