import typer

app = typer.Typer(help="Import data.", no_args_is_help=True)
