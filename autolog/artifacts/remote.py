"""What the repositories that fetch one file at a time (a tracking server's, a bucket's) share."""

from __future__ import annotations

import abc
import builtins
from pathlib import Path

from autolog.entities import FileInfo
from autolog.errors import NotFoundError
from autolog.validation import check_artifact_path

__all__ = ["DownloadsFileByFile"]


class DownloadsFileByFile(abc.ABC):
    """``download`` for a repository that fetches one file at a time (a tracking server, a
    bucket): a path that is not a file is taken as a folder and copied file by file."""

    @abc.abstractmethod
    def list(self, path: str | None = None) -> builtins.list[FileInfo]: ...

    @abc.abstractmethod
    def _download_file(self, path: str, out: Path) -> None:
        """Copy the file at ``path`` to ``out``; ``NotFoundError`` if there is none."""

    def download(self, path: str | None, dst: Path) -> Path:
        relative = check_artifact_path(path)
        dst.mkdir(parents=True, exist_ok=True)
        name = relative.rsplit("/", 1)[-1] if relative else "artifacts"
        out = dst / name
        if relative:
            try:
                self._download_file(relative, out)
                return out
            except NotFoundError:
                pass  # not a file: maybe a folder
        children = self.list(relative)
        if not children:
            raise NotFoundError("artifact", relative or "/")
        self._download_tree(children, out)
        return out

    def _download_tree(self, children: builtins.list[FileInfo], out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        for info in children:
            target = out / info.path.rsplit("/", 1)[-1]
            if info.is_dir:
                self._download_tree(self.list(info.path), target)
            else:
                self._download_file(info.path, target)
