"""The ``sparsim`` command line: thin commands over the library.

Each command lives in its own module and is imported only when it runs, so
``sparsim predict`` does not pay for the report or validation stack. Bad input of any
kind prints one line, ``sparsim: error: ...``, and exits with status 2.

Example::

    sparsim predict --hw h100-sxm5-80gb --kernel csr --m 4096 --k 4096 --n 256 --density 0.1
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from ..errors import SparsimError

__all__ = ["main", "cli"]

# command name -> (module under sparsim.cli, attribute)
_COMMANDS = {
    "predict": ("predict", "predict"),
    "hw": ("hw", "hw"),
    "impl": ("impl", "impl"),
    "calibrate": ("calibrate", "calibrate"),
    "validate": ("validate", "validate"),
    "probe": ("probe", "probe"),
    "study": ("study", "study"),
    "report": ("report", "report"),
    "step": ("step", "step"),
    "generate": ("step", "generate"),
    "explain": ("explain", "explain"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [name for name, (mod, _) in _COMMANDS.items()
                if importlib.util.find_spec(f"{__name__}.{mod}") is not None]

    def get_command(self, ctx, name):
        if name not in _COMMANDS or name not in self.list_commands(ctx):
            return None
        mod, attr = _COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{mod}"), attr)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sparsim")
def cli():
    """sparsim: predict what dense, sparse and pruned matrix multiplies cost on real GPUs.

    \b
    Examples:
      sparsim hw list
      sparsim predict --hw a100-sxm4-80gb --kernel 2:4 --m 4096 --k 4096 --n 4096
      sparsim study --example llama2-7b --out out/
    """


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 bad input, 1 internal error)."""
    nul = _with_nul(sys.argv[1:] if argv is None else argv)
    if nul is not None:  # no shell passes one; click's path checks would raise ValueError on it
        click.echo(f"sparsim: error: {nul}; allowed: text without NUL bytes", err=True)
        return 2
    try:
        cli.main(args=argv, prog_name="sparsim", standalone_mode=False)
    except SparsimError as exc:
        click.echo(f"sparsim: error: {exc}", err=True)
        return 2
    except click.exceptions.NoArgsIsHelpError as exc:  # `sparsim`, `sparsim hw`: the help, as --help
        click.echo(exc.ctx.get_help())
        return 0
    except click.ClickException as exc:
        message = exc.format_message().replace("\n", " ")
        click.echo(f"sparsim: error: {message} (see 'sparsim {_subcommand(argv)}--help')", err=True)
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("sparsim: error: interrupted; everything measured so far is saved", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except BrokenPipeError:  # `sparsim ... | head`
        return 0
    except OSError as exc:  # a path the OS refuses to open (a name too long, ...): one line naming it
        if exc.filename is None:
            raise
        click.echo(f"sparsim: error: {_path_error(argv, exc)}", err=True)
        return 2
    return 0


def _with_nul(argv) -> str | None:
    """``NAME: got VALUE`` of the first argument holding a NUL byte (None: none does)."""
    from ..errors import shown

    for i, arg in enumerate(argv):
        if "\x00" in arg:
            return f"{_label(argv, i)}: got {shown(arg)}"
    return None


def _path_error(argv, exc: OSError) -> str:
    """``NAME: got PATH (why); allowed: ...`` for a path the OS refused."""
    from ..errors import shown

    argv = sys.argv[1:] if argv is None else argv
    name = str(exc.filename)
    i = next((i for i, arg in enumerate(argv) if arg == name), None)
    label = _label(argv, i) if i is not None else "path"
    return f"{label}: got {shown(name)} ({exc.strerror or type(exc).__name__}); allowed: a path the file system can open"


def _label(argv, i: int) -> str:
    """What ``argv[i]`` was given as: the option it is the value of (``--hw``), else the
    command's positional argument (``TRACE``, ``STUDY_FILE``), else its position."""
    command = None
    if argv and argv[0] in _COMMANDS:
        try:
            command = cli.get_command(None, argv[0])
        except Exception:  # naming the argument must never hide the error itself
            command = None
    if command is None or isinstance(command, click.Group):
        return argv[i - 1] if i and argv[i - 1].startswith("-") else f"argument {i + 1}"
    valued = {o for p in command.params if isinstance(p, click.Option) and not p.is_flag for o in p.opts}
    positional, j = 0, 1
    while j < i:
        if argv[j] in valued:
            j += 2
        else:
            positional += not argv[j].startswith("-")
            j += 1
    if j > i:  # argv[i] is the value of the option before it
        return argv[i - 1]
    names = [p.human_readable_name for p in command.params if isinstance(p, click.Argument)]
    return names[positional] if positional < len(names) else f"argument {i + 1}"


def _subcommand(argv):
    argv = sys.argv[1:] if argv is None else argv
    return f"{argv[0]} " if argv and argv[0] in _COMMANDS else ""
