from services.confirmation.app import main

main()
