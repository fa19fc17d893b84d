from services.requests.app import main

main()
