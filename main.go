// Command sparkevents keeps a PostgreSQL copy of the Coherent Spark user-event log.
package main

func main() {}
