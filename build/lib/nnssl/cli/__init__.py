"""Command-line entry points (argparse ``build_parser`` + ``main(argv) -> int`` + a typed API)."""
