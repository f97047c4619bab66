from cse.cli import main

main()
