from llmctl.cli.entry import run

run()
