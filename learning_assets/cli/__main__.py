from learning_assets.cli import main

main()
