"""python -m bench: build data, draw few-shot manifests, run runners, compare tables.

One module per subcommand: ``data`` (data build, export-tallrec, split), ``run``,
``compare``, ``check``, ``listing`` (list).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Sequence

from bench import __version__, config
from bench.errors import BenchError, UsageError
from bench.store.records import COMMAND_VARIABLE

EPILOG = """examples:
  python -m bench data build --domain all
  python -m bench data export-tallrec --domain movie --out exported/
  python -m bench split --domain all --shots 16 64 256 --seeds 0 1 2 3 4
  python -m bench run --runner sasrec --domain movie --shots 64 --seed 0
  python -m bench run --runner tallrec-cpu --domain movie --shots 16 --seed 0
  python -m bench run --runner tallrec --model /models/llama-7b --set load_in_8bit=true
  python -m bench run --runner icl-api --set endpoint=https://api.openai.com/v1
  python -m bench compare --with-paper --format markdown
  python -m bench run --task next-item --runner sasrec icl llara-cpu --domain lastfm
  python -m bench run --all --task next-item --executor ray
  python -m bench compare --task next-item
  python -m bench list
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m bench``."""
    from bench.cli import check, compare, data, imports, listing, report, run

    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or logs")
    parser.add_argument("--version", action="version", version=f"tallrec-bench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for subcommand in (data, run, compare, check, listing, report, imports):
        subcommand.add_parser(commands)
    _accept_globals(commands)
    return parser


def _accept_globals(commands: argparse._SubParsersAction) -> None:
    """``-q`` after the subcommand as well as before it (``bench run ... -q``)."""
    for parser in commands.choices.values():
        parser.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=argparse.SUPPRESS,
            help="no progress bars or logs",
        )
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_globals(action)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; a BenchError becomes one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    words = sys.argv[1:] if argv is None else list(argv)
    caller = os.environ.get(COMMAND_VARIABLE)
    os.environ[COMMAND_VARIABLE] = shlex.join(["python", "-m", "bench", *words])  # records
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for console in logging.getLogger().handlers:  # cell logs get INFO even with -q
        console.setLevel(logging.WARNING if args.quiet else logging.INFO)
        console.addFilter(lambda record: not getattr(record, "cell_only", False))
    for noisy in ("recbole", "sentence_transformers", "httpx", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if clash := config.foreign_llm():
            raise UsageError(clash)
        return args.handler(args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `bench compare | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # a folder that is a file, read-only, a full disk
        where = f"{error.filename}: " if error.filename else ""
        print(
            f"error: {where}{error.strerror or error}: check the path, its permissions and "
            "the free space",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:  # an in-process caller (tests, the API) keeps its own command
        if caller is None:
            os.environ.pop(COMMAND_VARIABLE, None)
        else:
            os.environ[COMMAND_VARIABLE] = caller
