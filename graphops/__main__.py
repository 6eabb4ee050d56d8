from graphops.cli.base import main

main()
