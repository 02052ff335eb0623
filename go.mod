module fleetmon

go 1.26
