// Command invitesvc runs the invitations service.
package main
