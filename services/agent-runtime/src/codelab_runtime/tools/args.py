"""Argument models of the tools offered to the model (the JSON schema comes free)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

_PATH = "File path, relative to the workspace root or absolute."


class ReadFileArgs(BaseModel):
    path: str = Field(description=_PATH)
    offset: int | None = Field(default=None, ge=1, description="First line to read (1-based).")
    limit: int | None = Field(default=None, ge=1, description="Maximum number of lines to read.")


class WriteFileArgs(BaseModel):
    path: str = Field(description=_PATH)
    content: str = Field(description="The complete new content of the file.")


class EditFileArgs(BaseModel):
    path: str = Field(description=_PATH)
    old_text: str = Field(description="Exact text to replace; it must occur exactly once.")
    new_text: str = Field(description="The replacement text.")


class ListFilesArgs(BaseModel):
    path: str = Field(default=".", description="Directory to list, relative to the workspace.")


class SearchFilesArgs(BaseModel):
    pattern: str = Field(description="Basic regular expression to search for (grep).")
    path: str = Field(default=".", description="Directory or file to search in.")


class ExecuteCommandArgs(BaseModel):
    command: str = Field(description="Shell command to run in the workspace root.")


class GitStatusArgs(BaseModel):
    pass


class GitDiffArgs(BaseModel):
    path: str | None = Field(default=None, description="Limit the diff to this path.")
    staged: bool = Field(default=False, description="Show staged changes instead.")


class GitLogArgs(BaseModel):
    max_count: int = Field(default=10, ge=1, le=200, description="How many commits.")
    path: str | None = Field(default=None, description="Only commits touching this path.")


class GitBranchArgs(BaseModel):
    pass


class GitCommitArgs(BaseModel):
    message: str = Field(min_length=1, description="The commit message.")
    paths: list[str] = Field(
        default_factory=list, description="Paths to stage first; empty: commit what is staged."
    )


class SwitchModeArgs(BaseModel):
    mode: str = Field(description="Mode (agent) to hand the conversation to.")
    reason: str = Field(default="", description="Why, in one sentence.")


class NewTaskArgs(BaseModel):
    mode: str = Field(description="Mode (agent) that runs the subtask.")
    instructions: str = Field(description="Everything the subtask needs: it sees nothing else.")


class PlanEntryArgs(BaseModel):
    content: str
    priority: Literal["high", "medium", "low"] = "medium"
    status: Literal["pending", "in_progress", "completed"] = "pending"


class UpdatePlanArgs(BaseModel):
    entries: list[PlanEntryArgs] = Field(description="The whole plan (replaces the previous).")


class AskFollowupArgs(BaseModel):
    question: str = Field(description="The question for the user.")
    suggestions: list[str] = Field(default_factory=list, description="Suggested answers.")


class AttemptCompletionArgs(BaseModel):
    result: str = Field(description="The final result of the task, for the user or parent.")
