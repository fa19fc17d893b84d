from services.appointments.app import main

main()
