"""Common given names and surnames, the person-name recogniser's only knowledge of names.

A hand-compiled selection of the most frequent names in the United States, the United
Kingdom and Ireland, Germany, France, the Netherlands, Spain, Italy, Portugal, Poland,
the Nordic countries and Turkey, with common Arabic, South Asian and East Asian names
as they are written in those countries, after the frequency lists their statistics
offices publish (US Census Bureau surnames and SSA given names, ONS, Destatis/GfdS,
INSEE, CBS/Meertens, INE, ISTAT, GUS, SCB). Frequent names are facts, not anyone's
text; this list was written for lakemesh and is under the project's licence.

Entries are folded like column names (lower case, no accents); words that are more
often colours or common nouns than given names (Rose, Ruby, Amber) are left out of the
given names, so a colour column does not read as first names.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


GIVEN = _words(
    """
    aaron abdul abdullah abigail adam adrian agata agnes agnieszka ahmad ahmed ahmet aidan
    aiden aisha alan alba albert alberto aldo aleksander aleksandra alessandra alessandro
    alessia alex alexander alexandra alexandre alexis alfie alfonso alfred alfredo ali
    alice alicia alina aline alison alvaro amanda amelia amelie amina amir amit amy ana
    anders andrea andreas andrei andres andrew andrzej angel angela angelika angelo anil
    anita anja anke ann anna annabelle anne annemarie annette annie annika anouk anthony
    antje antoine anton antonella antonia antonio anuradha arjen arjun arnaud arne arthur
    astrid aurelie aurora austin ava axel ayse barbara barry bart bas beatrice beatriz
    ben benedikt benjamin benoit bernadette bernard bernd bernhard beth betty beverly
    bianca birgit birgitta bjorn bogdan boris brandon brenda brian brigitte britta bruce
    bruno bryan camille carina carl carla carlo carlos carmen carol caroline carolyn
    carsten caterina catherine cecile cedric celine chantal charles charlie charlotte
    chiara chloe chris christa christian christiane christina christine christoph
    christophe christopher cindy claire clara claude claudia claudio clement colin connor
    constance cornelia cornelis craig cristina cynthia daan damian dan daniel daniela
    danielle dariusz david davide debbie deborah declan deepak delphine denis denise
    dennis derek detlef diana diane didier diego dieter dimitri dirk divya dolores
    dominik dominique donald donna doris dorothy douglas duarte dylan edith edoardo
    edward edwin eileen elena eleni eleonora elias elif elijah elin elisa elisabeth
    elisabetta elise elizabeth ella ellen elodie emanuele emil emilia emilie emily emma
    emre enrico enrique enzo eric erik erika ernst esther ethan eugene eva evelyn ewa
    fabian fabienne fabio fabrice farah fatima federica federico felix femke fernanda
    fernando filip filippo finley finn fiona florence florian francesca francesco
    francine francis francisco franck francois francoise franco frank franziska fred
    freddie frederic frederik freya frida friedrich fritz gabriel gabriela gabriele
    gabrielle gareth gary geert gemma georg george georgia georgios gerald gerard gerda
    gerhard gerrit gert gertrud giacomo gianluca gilles gillian gina giorgia giorgio
    giovanna giovanni gisela giulia giulio giuseppe giuseppina gloria goncalo gonzalo
    gordon greta gregory gretchen grzegorz guido guillaume gunnar gunter gustav gustavo
    hamza hana hanna hannah hannes hans harald harold harriet harry hartmut hasan hassan
    hatice heather heike heinrich heinz helen helena helene helga helmut hendrik henk
    henri henrik henry herbert hermann herve hilde hiroshi holger hugo hussein ian
    ibrahim ida ignacio iker ilaria ilse imogen ines inga inge ingrid irene iris
    irina isaac isabel isabella isabelle isla ismail ivan jacek jack jackson jacob
    jacqueline jacques jade jakob jakub james jamie jan jana jane janet janice janina
    janine jannik jasmin jason javier jean jeanne jeffrey jennifer jens jeremy
    jerome jeroen jerzy jesper jesse jessica jesus jill joan joanna joao joaquin jochen
    joe joel johan johanna johannes john jonas jonathan jordi jorg jorge jose josef
    joseph josephine joshua joyce juan judith judy julia julian juliane julie julien
    juliette julius jurgen justin jutta kai kamil karen karin karina karl karolina
    kasper katarzyna kate katharina katherine kathleen kathrin katja katrin kayla keith
    kelly ken kenneth kerstin kevin khalid kilian kim kimberly klaas klaus koen
    konrad konstantin krisztina kristina krzysztof kurt kyle lara lars laura laure
    laurence laurent lea leah leena lena leo leon leonardo leonie leonor lewis liam
    lieke lina linda lisa liselotte lorenzo lorena lotte louis louise luca lucas lucia
    luciano lucie lucy ludwig luigi luis luisa luise lukas lukasz lutz luuk madison
    magdalena magnus maja malgorzata manfred manon manuel manuela marc marcel marcello
    marco marcus mared margaret margarete margarida margaux maria mariana marianne marie
    marieke marina mario marion marius marjorie mark marko markus marta martha martijn
    martin martina martine mary mason massimo mateo mateusz mathieu mathilde mathis
    matilda mats matteo matthew matthias mattia maureen maurice maurizio max maxime
    maximilian mehmet melanie melissa mercedes merve mia michael michaela michal michel
    michele michelle miguel mikael mila milan millie miriam mirjam mohamed mohammad
    mohammed monica monika moritz muhammad murat mustafa nadia nadine nancy naomi natalia
    natalie nathalie nathan neha nicola nicolas nicole niels nikolai nikolaos niklas
    nils nina noah noel noelia nora norbert nuria olaf oliver olivia olivier omar oscar
    oskar otto owen pablo paola pascal pascale patricia patrick paul paula pauline pawel
    pedro per peter petra philip philipp philippe phoebe pierre pieter piotr pooja
    priya rachel rafael rafal rahul rainer raj rajesh ralf ralph ramon raquel raul
    rebecca regina reinhard renate rene renee ricardo riccardo richard rick rik rita
    robert roberta roberto robin rocio rodrigo roger roland rolf roman romain ronald
    rosa rosalie rosario rosemary rudolf ruth ryan sabine sabrina salvatore samantha
    samir samuel sander sandra sandrine sanjay sara sarah sascha saskia sean sebastian
    sebastien selin sergio serge seyma sharon sheila siegfried silke silvia simon simona
    simone siobhan sofia sofie sonja sophia sophie soren stefan stefania stefanie
    stefano stephan stephane stephanie stephen steven stijn sunita susan susana susanne
    suzanne sven svenja sylvia sylvie tamara tanja tatiana teresa thea theo theresa
    thierry thijs thomas thorsten tiago tim timo timothy tina tobias tom tomas tomasz
    tommaso toni torsten tracy ulla ulrich ulrike ursula uta ute uwe valentin valentina
    valerie valeria vanessa vera veronica veronique victor victoria vincent vincenzo
    virginie vivian volker walter wendy werner wiebke wilhelm willem william wim
    wojciech wolfgang xavier yannick yasmin yolanda yusuf yves yvonne zeynep zofia zoe
    """
)

SURNAMES = _words(
    """
    abbott adams adamczyk aguilar ahmed alexander ali allen almeida alonso alvarez
    amato andersen anderson andersson andrews armstrong arnold bailey baker ball
    banerjee barbieri barker barnes barone bauer baumann beck becker bell bellini
    bennett berg berger bergmann bernard bertrand bianchi bianco black blanc blanco
    bonnet bos bosch braun brandt brooks brouwer brown bruno bryant buchanan burke
    burns bush butler caldwell campbell cano carbone carlsson carpenter carr carroll
    carter caruso castillo castro cattaneo chapman chatterjee chavez chen chevalier
    christensen clark clarke clement cole coleman collins colombo conti cook cooper
    costa cox crawford cruz cunningham dahl davies davis dekker delgado demir
    dias diaz dijk dixon dominguez doyle dubois dufour dumont duncan dupont durand
    edwards ellis engel eriksson esposito evans fabbri fernandes fernandez ferrari
    ferrara ferreira ferri fischer fisher fleming fletcher flores fontaine fontana ford
    foster fournier fox francis franke friedrich fuchs gallagher gallo garcia gardner
    garnier garrido gauthier gentile gibson gil girard giordano gomes gomez gonzalez
    gordon graham grant gray greco green griffin griffiths gross groot gruber guerrero
    gunther gupta gustafsson gutierrez haas hahn hall hamilton hansen hanson harris
    harrison hart hartmann hayes heinrich henderson hendriks henry herrera hernandez
    herrmann hill hoffmann hofmann holmes horn howard huber hughes hunt hunter iglesias
    jackson jacobs james jansen janssen jensen jimenez johansson johnson johnston jones
    jong jordan kaiser kaminski kaya keller kelly kennedy khan kim king klein koch
    kohler konig kowalczyk kowalski kozlowski kramer krause kruger kuhn kumar lambert
    lang lange larsen larsson laurent lee lefebvre lehmann leone leroy lewandowski
    lewis li lima lombardi long lopes lopez lorenz lozano ludwig lynch macdonald
    maier marchetti marin marino marques marquez marshall martin martinelli martinez
    martini martins mason matthews mayer mazur mcdonald medina mehta meier meijer mendes
    mendez mercier meyer michel miller mitchell molina moller moore morales moreau
    moreno moretti morgan morris muller mulder munoz murphy murray navarro nguyen nielsen
    nilsson novak nowak nunez obrien oconnor oliveira olsen olsson oneill ortega ortiz
    owen palmer park parker patel pedersen pereira perez perrin peters petersen petit
    phillips pinto pohl porter powell price quinn ramirez ramos reid reyes ribeiro
    ricci richard richards richardson richter rinaldi rivera robert roberts robertson
    robinson rodrigues rodriguez rogers romano romero rossi roth rousseau roux rubio
    ruiz russell russo ryan sala sanchez santoro santos sanz sauer schafer schmid
    schmidt schmitt schmitz schneider scholz schroder schubert schulte schulz schulze
    schumacher schuster schwarz scott serra serrano shah sharma shaw silva simmons
    simon simpson singh smit smith smits snyder sousa stewart stone suarez sullivan
    svensson taylor teixeira thomas thompson thomsen torres tran turner vargas
    vasquez vazquez vega vermeulen vidal vieira visser vitale vogel vogt voigt vos
    vries wagner walker wallace walsh walter wang ward watson weber webb weiss wells
    werner white williams willems wilson winkler wolf wood wright wojcik wozniak yilmaz
    young zhang zimmermann
    abdullah agarwal antonelli arias ayala bakker barros benitez berggren bjork blom
    bogdan borg bouchard boyer bravo brunet caron carvalho ceylan chan chen cho choi
    cohen correia costantini cruz dahlberg das david dawson decker delacroix
    desai dogan dvorak eklund fabre faure fiore fonseca forsberg franco fraser fujita
    gallego galli garnier gauthier gill goncalves grasso guerin guerra haddad hakansson
    hansson hassan hayashi herrero hidalgo hoang hussain ibrahim inoue ito iyer jain
    jakobsen jovanovic joshi jung kang kapoor kato kelley kerr kobayashi koc koster
    kovacs kowalewski kozak kristensen kurt lacroix laine lam larsen lau le lemaire
    lemoine leclerc lindberg lindqvist lindstrom liu lund lundberg madsen mahmoud
    marchand maes mancini mariani marchi mehmet mishra moller molnar monti morin
    mortensen moulin nakamura nagy nair nemeth nieminen nikolaidis nordin novotny
    olesen ozturk pandey papadopoulos pavlov peeters perrot persson petrov pham phan
    picard poulsen prieto rahman rao rasmussen reddy renard rey rizzo roussel sato
    sahin santana sartori sasaki schulze sen shimizu soler sorensen sousa stewart
    suzuki szabo takahashi tanaka toth vanderberg verma vu wagner watanabe weiss wu xu
    yamada yamamoto yang yildiz yoshida zhao zhou zielinski
    """
)

#: Lower-case words that join the parts of a name: "Jan van der Berg", "de la Cruz".
PARTICLES = _words(
    "van von der den de del della di da dos das du le la ten ter zu y e bin ibn al el af"
)

#: Words that make a phrase a company, a place or a placeholder, not a person.
NOT_PERSON = _words(
    """
    gmbh ag ltd limited inc incorporated llc llp plc corp corporation co kg ohg gbr ug
    sa sas sarl srl spa bv nv ab as asa oy oyj se company group holding holdings bank
    and und et & services service solutions systems technologies technology
    international global consulting partners associates trust foundation stiftung
    verein ev club hotel restaurant cafe shop store market studio agency institute
    university school hospital clinic street st road rd avenue ave lane ln drive way
    strasse str weg allee platz gasse straat laan plein rue avenue boulevard calle via
    viale piazza corso plaza square park airport station unknown unbekannt inconnu
    desconocido sconosciuto onbekend none null nil nan na tbd tba test dummy sample
    anonymous anonym anonyme redacted deleted removed hidden
    """
)
