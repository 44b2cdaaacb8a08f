FROM	alpine:3.20	AS	build
	RUN	echo	"tab	inside"
	# an indented comment
WORKDIR	/srv	
