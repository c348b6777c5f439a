"""Test helper (on PYTHONPATH only in tests/trainers/test_torchrun.py): record every file a rank opens
for writing, or renames, below the folders named in NNSSL_WRITE_AUDIT_ROOTS, into
$NNSSL_WRITE_AUDIT/rank<RANK>.txt."""

import builtins
import os

_audit = os.environ.get("NNSSL_WRITE_AUDIT")
if _audit:
    _roots = tuple(os.path.realpath(r) for r in os.environ["NNSSL_WRITE_AUDIT_ROOTS"].split(os.pathsep))
    _log = os.path.join(_audit, f"rank{os.environ.get('RANK', 'none')}.txt")
    _open, _replace, _rename = builtins.open, os.replace, os.rename

    def _record(path) -> None:
        if isinstance(path, (str, bytes, os.PathLike)):
            real = os.path.realpath(os.fsdecode(path))
            if real.startswith(_roots):
                with _open(_log, "a") as f:
                    f.write(real + "\n")

    def _audited_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            _record(file)
        return _open(file, mode, *args, **kwargs)

    def _audited_replace(src, dst, *args, **kwargs):
        _record(dst)
        return _replace(src, dst, *args, **kwargs)

    def _audited_rename(src, dst, *args, **kwargs):
        _record(dst)
        return _rename(src, dst, *args, **kwargs)

    builtins.open, os.replace, os.rename = _audited_open, _audited_replace, _audited_rename
