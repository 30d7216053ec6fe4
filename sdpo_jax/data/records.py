"""Prompt records from the supported sources, all in one shape: chat messages with image paths.

Sources (config `data.source`, folder `data.path`):
- `jsonl`: one JSON object a line, `{"id", "task", "messages", "target"?, "gold"?}` where
  `messages` is a chat (`{"role", "content"}`; content a string or a list of
  `{"type": "text", "text"}` / `{"type": "image", "image": PATH}`), image paths relative to
  the file's folder. The bundled sets are written in this format too.
- `chartmimic`: the published ChartMimic layout, searched recursively: `<stem>.png` (the
  target chart) beside `<stem>.py` (its gold code), e.g. `ori_500/bar_1.{png,py}`; a
  `<stem>.txt` beside them (customized mimic) holds the instruction that replaces the default.
- `design2code`: the published Design2Code layout: `<id>.png` (page screenshot) beside
  `<id>.html` (its gold page), e.g. `testset_final/2.{png,html}`.

Records only name files; reading and checking them is the pipeline's job, where a bad one is
skipped and counted rather than ending the run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

TASK_DOMAINS = {"chart": "chart", "web": "web", "slide": "slide_html"}

CHART_INSTRUCTION = (
    "The image shows a chart. Write Python code with matplotlib that reproduces it as exactly "
    "as you can. Answer with one ```python code block."
)
WEB_INSTRUCTION = (
    "The image is a screenshot of a web page. Write one HTML file with inline CSS that "
    "reproduces it: the same layout, text, colors and sizes. Answer with one ```html code block."
)


@dataclasses.dataclass(frozen=True)
class PromptRecord:
    id: str
    task: str
    messages: tuple[dict[str, Any], ...]
    target: str | None = None  # image the result is scored against
    gold: str | None = None  # reference program, where the source has one

    @property
    def domain(self) -> str:
        return TASK_DOMAINS[self.task]

    def image_paths(self) -> list[str]:
        return [
            part["image"]
            for message in self.messages
            if isinstance(message["content"], list)
            for part in message["content"]
            if part.get("type") == "image"
        ]


class BadSource(ValueError):
    """A data folder or file that cannot be read as the configured source."""


def user_prompt(image: str | None, text: str) -> tuple[dict[str, Any], ...]:
    content = ([{"type": "image", "image": image}] if image else []) + [
        {"type": "text", "text": text}
    ]
    return ({"role": "user", "content": content},)


def read_jsonl(path: str | Path, task: str) -> tuple[list[PromptRecord], list[str]]:
    """Records of a JSONL file and a list of problems (one line each) with the lines skipped."""
    path = Path(path)
    if not path.is_file():
        raise BadSource(f"data.path={str(path)!r}: no such JSONL file")
    records, problems = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            messages = tuple(_resolve_images(m, path.parent) for m in raw["messages"])
            target = raw.get("target")
            records.append(
                PromptRecord(
                    id=str(raw.get("id", f"{path.stem}-{number}")),
                    task=raw.get("task", task),
                    messages=messages,
                    target=str(path.parent / target) if target else None,
                    gold=raw.get("gold"),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
            problems.append(f"{path}:{number}: not a prompt record ({type(err).__name__}: {err})")
    return records, problems


def _resolve_images(message: dict[str, Any], root: Path) -> dict[str, Any]:
    if not isinstance(message["role"], str):
        raise TypeError("role must be a string")
    content = message["content"]
    if isinstance(content, str):
        return {"role": message["role"], "content": content}
    parts = []
    for part in content:
        if part["type"] == "image":
            part = {"type": "image", "image": str(root / part["image"])}
        elif part["type"] != "text" or not isinstance(part["text"], str):
            raise TypeError(f"content part of type {part['type']!r}")
        parts.append(part)
    return {"role": message["role"], "content": parts}


def _paired(
    root: Path, image_suffix: str, code_suffix: str, source: str
) -> list[tuple[Path, Path]]:
    if not root.is_dir():
        raise BadSource(f"data.path={str(root)!r}: no such folder")
    pairs = [
        (image, image.with_suffix(code_suffix))
        for image in sorted(root.rglob(f"*{image_suffix}"))
        if image.with_suffix(code_suffix).is_file()
    ]
    if not pairs:
        raise BadSource(
            f"data.path={str(root)!r} is not in the {source} layout: no <name>{image_suffix} "
            f"beside a <name>{code_suffix} anywhere below it"
        )
    return pairs


def read_chartmimic(root: str | Path) -> list[PromptRecord]:
    root = Path(root)
    records = []
    for image, code in _paired(root, ".png", ".py", "ChartMimic"):
        custom = image.with_suffix(".txt")
        text = custom.read_text().strip() if custom.is_file() else CHART_INSTRUCTION
        records.append(
            PromptRecord(
                id=str(image.relative_to(root).with_suffix("")),
                task="chart",
                messages=user_prompt(str(image), text),
                target=str(image),
                gold=code.read_text(errors="replace"),
            )
        )
    return records


def read_design2code(root: str | Path) -> list[PromptRecord]:
    root = Path(root)
    return [
        PromptRecord(
            id=str(image.relative_to(root).with_suffix("")),
            task="web",
            messages=user_prompt(str(image), WEB_INSTRUCTION),
            target=str(image),
            gold=page.read_text(errors="replace"),
        )
        for image, page in _paired(root, ".png", ".html", "Design2Code")
    ]


def write_jsonl(records: list[PromptRecord], path: str | Path) -> None:
    """Writes records with image paths relative to the file's folder (inverse of read_jsonl)."""
    path = Path(path)
    root = path.parent.resolve()

    def relative(p: str) -> str:
        return str(Path(p).resolve().relative_to(root))

    with path.open("w") as out:
        for record in records:
            messages = [
                {
                    "role": m["role"],
                    "content": m["content"]
                    if isinstance(m["content"], str)
                    else [
                        {"type": "image", "image": relative(p["image"])}
                        if p["type"] == "image"
                        else p
                        for p in m["content"]
                    ],
                }
                for m in record.messages
            ]
            row = {"id": record.id, "task": record.task, "messages": messages}
            if record.target:
                row["target"] = relative(record.target)
            if record.gold is not None:
                row["gold"] = record.gold
            out.write(json.dumps(row) + "\n")
