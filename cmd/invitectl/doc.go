// Command invitectl is the operations and audit tool of the invitations service.
package main
