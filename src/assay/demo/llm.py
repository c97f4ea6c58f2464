"""The demo's LLM step: a support assistant over a stand-in model, traced; its prompt
versioned with a production label on a 90/10 split; a judge's score and a user's
feedback on the traces; the two arms compared and the label moved on a pass."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import assay

PROJECT = "digits-assistant"
PROMPT = "support"
QUESTIONS = (
    "How do I log a metric?",
    "Which model is in production?",
    "How do I compare two runs?",
    "Where do I see drift?",
)
ANSWERS = {
    "metric": "Call run.log({'loss': 0.1}) inside assay.init().",
    "production": "assay models show digits-classifier names the @production version.",
    "compare": "Select both runs in the UI and press Compare.",
    "drift": "assay monitor show names the drifted windows.",
}


def stand_in(messages: str | list[dict[str, str]], *, short: bool, user: str) -> str:
    """A model behind an endpoint, replaced by a lookup: it answers the question, and the
    one-sentence prompt keeps it from wandering off for most users (a fixed hash, so the
    demo gives the same figures every time)."""
    question = (messages if isinstance(messages, str) else messages[-1]["content"]).lower()
    answer = next((a for k, a in ANSWERS.items() if k in question), "See the docs.")
    wanders = int(hashlib.blake2b(user.encode(), digest_size=2).hexdigest(), 16) % 100
    if wanders < (10 if short else 45):
        return "Good question! There are many ways to think about this. " + answer
    return answer


@dataclass(frozen=True)
class LlmResult:
    traces: int
    users: int
    per_version: dict[int, int]
    verdict: str
    reason: str
    moved: bool
    feedback_on: str

    def lines(self) -> list[str]:
        arms = ", ".join(f"v{v}: {n}" for v, n in sorted(self.per_version.items()))
        return [
            f"prompt {PROJECT}/{PROMPT}: v0 (answer the question) and v1 (in one sentence);",
            "  @production split 90/10 between them, sticky per user",
            f"{self.traces} traced questions from {self.users} users ({arms}), each scored by "
            "a judge",
            f"  (assay.score.concise) and one thumbs-down from a user on {self.feedback_on[:12]}…",
            f"compare support@production: {self.verdict.upper()}",
            f"  {self.reason}",
            "  @production moved to v1 (the comparison kept as evidence)"
            if self.moved
            else "  @production stays on the split",
            f"assay prompts show {PROMPT} -p {PROJECT}; the UI: /projects/{PROJECT}/prompts",
        ]


def run_llm(uri: str | None = None, users: int = 200, rounds: int = 6) -> LlmResult:
    for version, system in enumerate(
        ("You answer questions about Assay.", "You answer questions about Assay in one sentence.")
    ):
        assay.prompts.create(
            PROMPT,
            [{"role": "system", "content": system}, {"role": "user", "content": "{{ question }}"}],
            params={"model": "gpt-4o-mini", "temperature": 0.2 - 0.2 * version},
            project=PROJECT,
            labels=["production"] if version == 0 else None,
            reason="the first version" if version == 0 else None,
            uri=uri,
        )
    assay.prompts.split(
        PROMPT,
        "production",
        {0: 90, 1: 10},
        reason="does one sentence help?",
        project=PROJECT,
        uri=uri,
    )
    per_version: dict[int, int] = {}
    first_trace = ""
    for turn in range(users * rounds):
        user = f"user-{turn % users}"
        with assay.span(
            "answer", kind="llm", project=PROJECT, uri=uri, inputs={"user": user}
        ) as span:
            prompt = assay.prompts.get(f"{PROMPT}@production", project=PROJECT, key=user, uri=uri)
            messages = prompt.format(question=QUESTIONS[turn % len(QUESTIONS)])
            reply = stand_in(messages, short=prompt.version == 1, user=user)
            span.output = reply
            span.set_usage(
                model="gpt-4o-mini",
                provider="openai",
                input_tokens=18 + 4 * prompt.version,
                output_tokens=len(reply.split()) * 2,
            )
            span.set("assay.score.concise", float(not reply.startswith("Good question")))
            per_version[prompt.version] = per_version.get(prompt.version, 0) + 1
            first_trace = first_trace or span.trace_id
    assay.flush_traces()
    assay.feedback(
        trace_id=first_trace, project=PROJECT, thumbs=False, comment="too chatty", uri=uri
    )
    # the stand-in answers in microseconds: latency within 50 ms counts as no worse
    report = assay.prompts.compare(
        f"{PROMPT}@production", project=PROJECT, uri=uri, tolerances={"latency": 0.05}
    )
    moved = report.verdict.status == "pass"
    if moved:
        assay.prompts.label(
            PROMPT,
            "production",
            1,
            project=PROJECT,
            reason="one sentence is more concise",
            evidence=report.verdict.reason,
            uri=uri,
        )
    return LlmResult(
        traces=users * rounds,
        users=users,
        per_version=per_version,
        verdict=report.verdict.status,
        reason=report.verdict.reason,
        moved=moved,
        feedback_on=first_trace,
    )
