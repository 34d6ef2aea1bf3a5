/* abort(): SIGABRT sent by the process to itself. */
#include <stdlib.h>
int main(void) { abort(); }
