from styler.cli import main

main()
