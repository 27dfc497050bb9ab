"""One module per `edge` subcommand: add_parser(subparsers) and run(args)."""
